#!/usr/bin/env python3
"""Structural checks of the packaging files, for tests/deploy/packaging_test.sh.

Each subcommand reads files of the repository, prints one `PASS name` or `FAIL name: why`
line per check (the shell counts them), and may write facts for the shell to use as JSON
(--facts FILE). Needs PyYAML (python3-yaml) and Python 3.11 (tomllib).

  dockerfile REPO --facts F     the Dockerfile's two stages, its runtime settings
  unit FILE                     the systemd unit's type, user, command and hardening
  compose REPO DOCKER_FACTS --facts F   the compose file against the image
  k8s REPO DOCKER_FACTS         the Kubernetes manifests against the image and each other
  secret YAML DIR               lays a Secret out as the kubelet mounts it (..data links)
  k8s-config REPO NAME --facts F   the config of NAME's ConfigMap, as TOML text and facts
  peers-connected STATUS_FILE   whether every peer in a `wlsync status` JSON is connected
"""
import argparse
import base64
import fnmatch
import json
import os
import re
import shlex
import sys
import tomllib

import yaml

failures = 0


def check(name, ok, why=""):
    global failures
    if ok:
        print(f"PASS {name}")
    else:
        failures += 1
        print(f"FAIL {name}: {why}")
    return ok


# ---- Dockerfile ------------------------------------------------------------------------


def dockerfile_instructions(path):
    """(instruction, argument text) pairs, continuation lines joined, comments dropped."""
    out, pending = [], ""
    for raw in open(path, encoding="utf-8"):
        line = raw.rstrip("\n")
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        line = pending + line
        pending = ""
        word, _, rest = line.strip().partition(" ")
        out.append((word.upper(), rest.strip()))
    return out


def exec_form(text):
    text = text.strip()
    return json.loads(text) if text.startswith("[") else shlex.split(text)


def dockerignore_excludes(patterns, path):
    """Whether `path` (relative to the context) is left out, by Docker's rules in short."""
    excluded = False
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for pattern in patterns:
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!")
        forms = [pattern]
        if pattern.startswith("**/"):
            forms.append(pattern[3:])
        hit = any(fnmatch.fnmatchcase(p, f) for p in prefixes for f in forms)
        if hit:
            excluded = not negate
    return excluded


def cmd_dockerfile(args):
    repo = args.repo
    path = os.path.join(repo, "deploy/container/Dockerfile")
    steps = dockerfile_instructions(path)
    stages, current = [], None
    for word, rest in steps:
        if word == "FROM":
            current = {"from": rest, "steps": []}
            stages.append(current)
        elif current is not None:
            current["steps"].append((word, rest))
    check("dockerfile: two stages", len(stages) == 2, f"{len(stages)} FROM lines")
    build, run = stages[0], stages[-1]
    check("dockerfile: build stage FROM debian:12",
          re.fullmatch(r"debian:12 AS build", build["from"], re.I) is not None, build["from"])
    check("dockerfile: runtime stage FROM debian:12-slim",
          run["from"].split()[0] == "debian:12-slim", run["from"])

    build_runs = " ".join(r for w, r in build["steps"] if w == "RUN")
    check("dockerfile: build stage installs through deploy/install-deps.sh",
          "deploy/install-deps.sh" in build_runs, build_runs[:80])
    check("dockerfile: build stage builds with cmake and Ninja",
          re.search(r"cmake -S \. -B build -G Ninja", build_runs) is not None
          and "cmake --build build" in build_runs, "no `cmake -G Ninja` + `cmake --build`")
    staging = re.search(r"DESTDIR=(\S+) cmake --install build --prefix /usr", build_runs)
    check("dockerfile: build stage installs with --prefix /usr into a DESTDIR",
          staging is not None, "no `DESTDIR=... cmake --install build --prefix /usr`")

    run_steps = run["steps"]
    runs = [r for w, r in run_steps if w == "RUN"]
    installs = [r for r in runs if "apt-get install" in r]
    pkg_file = "deploy/container/runtime-packages.txt"
    copies = []
    for word, rest in run_steps:
        if word != "COPY":
            continue
        words = shlex.split(rest)
        flags = [w for w in words if w.startswith("--")]
        paths = [w for w in words if not w.startswith("--")]
        copies.append({"from": next((f.split("=", 1)[1] for f in flags
                                     if f.startswith("--from=")), None),
                       "sources": paths[:-1], "dest": paths[-1]})
    check("dockerfile: runtime packages come only from runtime-packages.txt",
          len(installs) == 1 and "runtime-packages.txt" in installs[0]
          and "--no-install-recommends" in installs[0]
          and re.search(r"apt-get install -y --no-install-recommends\s*(&&|$)", installs[0])
          and any(pkg_file in c["sources"] for c in copies),
          f"apt-get install lines: {installs}")
    check("dockerfile: runtime stage removes the apt lists",
          any("rm -rf /var/lib/apt/lists" in r for r in installs), "lists kept")
    from_build = [c for c in copies if c["from"] == "build"]
    check("dockerfile: runtime stage takes the staged /usr tree",
          staging is not None and len(from_build) == 1
          and from_build[0]["sources"] == [staging.group(1) + "/usr/"]
          and from_build[0]["dest"] == "/usr/", f"{from_build}")

    ignore_path = os.path.join(repo, "deploy/container/Dockerfile.dockerignore")
    patterns = [l.strip() for l in open(ignore_path, encoding="utf-8")
                if l.strip() and not l.startswith("#")]
    for c in copies:
        if c["from"]:
            continue
        for src in c["sources"]:
            check(f"dockerfile: COPY {src} exists and is in the build context",
                  os.path.exists(os.path.join(repo, src))
                  and not dockerignore_excludes(patterns, src.rstrip("/")),
                  "missing or excluded by Dockerfile.dockerignore")
    for needed in ["CMakeLists.txt", "deploy/install-deps.sh", "deploy/sample/grids.csv",
                   "cli/main.cc"]:
        check(f"dockerignore: {needed} stays in the build context",
              not dockerignore_excludes(patterns, needed), "excluded")
    for secret in ["build/bin/wlsyncd", ".git/config", "quickstart/waihai/keys/waihai.key"]:
        check(f"dockerignore: {secret} is left out", dockerignore_excludes(patterns, secret),
              "not excluded")

    settings = {}
    env = {}
    for word, rest in run_steps:
        if word == "ENV":
            for item in shlex.split(rest):
                key, _, value = item.partition("=")
                env[key] = value
        elif word in ("USER", "VOLUME", "ENTRYPOINT", "CMD", "HEALTHCHECK", "EXPOSE"):
            settings[word] = rest
    user = settings.get("USER", "")
    m = re.fullmatch(r"(\d+):(\d+)", user)
    check("dockerfile: runs as a numeric non-root USER",
          m is not None and int(m.group(1)) != 0, f"USER {user!r}")
    uid, gid = (int(m.group(1)), int(m.group(2))) if m else (0, 0)
    useradd = " ".join(runs)
    check("dockerfile: the user is made with the USER's ids",
          f"--uid {uid}" in useradd and f"--gid {gid}" in useradd, "useradd/groupadd ids differ")
    volumes = exec_form(settings.get("VOLUME", "[]"))
    check("dockerfile: VOLUME /var/lib/wlsync", "/var/lib/wlsync" in volumes, f"{volumes}")
    entrypoint = exec_form(settings.get("ENTRYPOINT", "[]"))
    copied = {}
    for c in copies:
        for src in c["sources"]:
            dest = c["dest"]
            copied[src] = dest + os.path.basename(src) if dest.endswith("/") else dest
    check("dockerfile: ENTRYPOINT is the copied entrypoint.sh",
          entrypoint == [copied.get("deploy/container/entrypoint.sh")], f"{entrypoint}")
    health = settings.get("HEALTHCHECK", "")
    hc = exec_form(health.split("CMD", 1)[1]) if "CMD" in health else []
    check("dockerfile: HEALTHCHECK runs `entrypoint.sh health`",
          hc == entrypoint + ["health"], f"{hc}")
    exposed = settings.get("EXPOSE", "").split()
    check("dockerfile: EXPOSE gRPC 7401 and metrics 9740",
          "7401" in exposed and "9740" in exposed, f"{exposed}")
    check("dockerfile: every copied script is made executable",
          all(dest in useradd for src, dest in copied.items() if src.endswith(".sh")),
          "a copied .sh is missing from the chmod")
    facts = {"uid": uid, "gid": gid, "env": env, "entrypoint": entrypoint,
             "cmd": exec_form(settings.get("CMD", "[]")), "healthcheck": hc,
             "volumes": volumes, "copies": [c for c in copies if not c["from"]]}
    with open(args.facts, "w", encoding="utf-8") as f:
        json.dump(facts, f, indent=1)


# ---- systemd unit ----------------------------------------------------------------------


def cmd_unit(args):
    settings = {}
    section = ""
    for raw in open(args.file, encoding="utf-8"):
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        settings.setdefault((section, key.strip()), []).append(value.strip())

    def last(key, section="Service"):
        values = settings.get((section, key))
        return values[-1] if values else None

    expected = {
        "Type": "notify", "User": "wlsync", "Group": "wlsync",
        "ExecStart": "/usr/bin/wlsyncd --config /etc/wlsync/wlsyncd.toml",
        "ExecReload": "/bin/kill -HUP $MAINPID",
        "Restart": "on-failure", "StateDirectory": "wlsync", "UMask": "0077",
        "ProtectSystem": "strict", "ProtectHome": "yes", "PrivateTmp": "yes",
        "PrivateDevices": "yes", "NoNewPrivileges": "yes", "CapabilityBoundingSet": "",
        "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
        "MemoryDenyWriteExecute": "yes", "LockPersonality": "yes",
        "ProtectKernelTunables": "yes", "ProtectKernelModules": "yes",
        "ProtectKernelLogs": "yes", "ProtectControlGroups": "yes",
        "RestrictNamespaces": "yes", "RestrictRealtime": "yes", "RestrictSUIDSGID": "yes",
        "SystemCallArchitectures": "native", "ReadWritePaths": "/var/lib/wlsync /etc/wlsync/keys",
    }
    for key, value in expected.items():
        check(f"unit: {key}={value}", last(key) == value, f"is {last(key)!r}")
    filters = settings.get(("Service", "SystemCallFilter"), [])
    check("unit: SystemCallFilter=@system-service", "@system-service" in filters, f"{filters}")
    for key in ("WatchdogSec", "LimitNOFILE", "TimeoutStopSec"):
        check(f"unit: {key} is set", bool(last(key)), "missing")
    check("unit: WantedBy=multi-user.target",
          last("WantedBy", "Install") == "multi-user.target", "not installed for boot")


# ---- compose ---------------------------------------------------------------------------


def cmd_compose(args):
    repo = args.repo
    docker = json.load(open(args.docker_facts, encoding="utf-8"))
    path = os.path.join(repo, "deploy/container/compose.yaml")
    doc = yaml.safe_load(open(path, encoding="utf-8"))
    services = doc.get("services", {})
    declared = set((doc.get("volumes") or {}).keys())
    init = services.get("init")
    if not check("compose: a one-shot init service", init is not None, "no service init"):
        return
    build = init.get("build", {})
    context = os.path.normpath(os.path.join(os.path.dirname(path), build.get("context", ".")))
    check("compose: init builds the repository's Dockerfile",
          context == os.path.normpath(repo)
          and build.get("dockerfile") == "deploy/container/Dockerfile", f"{build}")
    command = [str(c) for c in init.get("command", [])]
    check("compose: init runs `init-nodes`", command[:1] == ["init-nodes"], f"{command}")
    check("compose: init is root with only CHOWN, DAC_OVERRIDE, FOWNER",
          init.get("user") == "root" and init.get("cap_drop") == ["ALL"]
          and set(init.get("cap_add", [])) <= {"CHOWN", "DAC_OVERRIDE", "FOWNER"},
          f"user={init.get('user')} cap_add={init.get('cap_add')}")
    out = command[command.index("--out") + 1] if "--out" in command else None
    pki = command[command.index("--pki") + 1] if "--pki" in command else f"{out}/pki"
    specs = [c for c in command if re.fullmatch(r"[a-z][a-z0-9_-]*=[^=]+:\d+", c)]
    init_mounts = {v.split(":")[1]: v.split(":")[0] for v in init.get("volumes", [])}
    config_dir = os.path.dirname(docker["env"].get("WLSYNC_CONFIG", "/etc/wlsync/x"))
    data_dir = docker["volumes"][0] if docker["volumes"] else None
    nodes = []
    for spec in specs:
        name, _, address = spec.partition("=")
        host, _, port = address.rpartition(":")
        nodes.append({"name": name, "host": host, "port": int(port)})
        node = services.get(name)
        if not check(f"compose: service {name}", node is not None, "missing"):
            continue
        check(f"compose: {name} is dialled at its service name", host in (name,
              node.get("hostname")), f"{host}")
        check(f"compose: {name} waits for init to complete",
              (node.get("depends_on") or {}).get("init", {}).get("condition")
              == "service_completed_successfully", f"{node.get('depends_on')}")
        check(f"compose: {name} uses init's image without pulling",
              node.get("image") == init.get("image") and node.get("pull_policy") == "never",
              f"{node.get('image')} {node.get('pull_policy')}")
        mounts = {v.split(":")[1]: v for v in node.get("volumes", [])}
        config_volume = init_mounts.get(f"{out}/{name}")
        check(f"compose: {name}'s config volume is init's {out}/{name}, read-only at "
              f"{config_dir}", config_volume is not None
              and mounts.get(config_dir) == f"{config_volume}:{config_dir}:ro", f"{mounts}")
        check(f"compose: {name}'s data volume is at the image's VOLUME {data_dir}",
              data_dir in mounts, f"{sorted(mounts)}")
        check(f"compose: {name} does not mount the CA's volume",
              init_mounts.get(pki) not in [v.split(":")[0] for v in mounts.values()],
              "pki mounted")
        check(f"compose: {name} has every volume declared",
              all(v.split(":")[0] in declared for v in mounts.values()), f"{declared}")
        check(f"compose: {name} runs as the image's non-root user, unprivileged",
              "user" not in node and node.get("read_only") is True
              and node.get("cap_drop") == ["ALL"]
              and "no-new-privileges:true" in node.get("security_opt", []), "privileges")
        ports = [str(p).rsplit(":", 1)[-1] for p in node.get("ports", [])]
        check(f"compose: {name} publishes gRPC {port} and metrics 9740",
              port in ports and "9740" in ports, f"{ports}")
    check("compose: init mounts only declared volumes",
          all(v in declared for v in init_mounts.values()), f"{init_mounts}")
    with open(args.facts, "w", encoding="utf-8") as f:
        json.dump({"command": command, "out": out, "pki": pki, "nodes": nodes}, f, indent=1)


# ---- Kubernetes ------------------------------------------------------------------------


def load_k8s(repo):
    k8s = os.path.join(repo, "deploy/k8s")
    kustomization = yaml.safe_load(open(os.path.join(k8s, "kustomization.yaml")))
    docs = []
    for resource in kustomization.get("resources", []):
        path = os.path.join(k8s, resource)
        check(f"k8s: kustomization resource {resource} exists", os.path.isfile(path),
              "missing")
        if os.path.isfile(path):
            docs += [d for d in yaml.safe_load_all(open(path, encoding="utf-8")) if d]
    return kustomization, docs


def config_of(docs, configmap_name):
    for d in docs:
        if d.get("kind") == "ConfigMap" and d["metadata"]["name"] == configmap_name:
            return d["data"]["wlsyncd.toml"]
    return None


def port_of(address):
    return int(address.rsplit(":", 1)[1])


def cmd_k8s(args):
    repo = args.repo
    docker = json.load(open(args.docker_facts, encoding="utf-8"))
    _, docs = load_k8s(repo)
    by_kind = {}
    for d in docs:
        by_kind.setdefault(d["kind"], {})[d["metadata"]["name"]] = d
    template = yaml.safe_load(open(os.path.join(repo, "deploy/k8s/secret.template.yaml")))
    template_keys = set(template.get("stringData", {}))
    text = json.dumps(template)
    check("k8s: the Secret template holds no key material",
          "BEGIN" not in text and not re.search(r"[0-9a-f]{64}", text)
          and not re.search(r"[A-Za-z0-9+/]{40,}", text), "looks like a real key")
    sets = by_kind.get("StatefulSet", {})
    check("k8s: a StatefulSet per jurisdiction", len(sets) >= 2, f"{sorted(sets)}")
    for name, sts in sets.items():
        spec = sts["spec"]
        pod = spec["template"]["spec"]
        labels = spec["template"]["metadata"]["labels"]
        instance = labels.get("app.kubernetes.io/instance")
        check(f"k8s: {name}: one replica", spec.get("replicas") == 1, f"{spec.get('replicas')}")
        claims = [c["metadata"]["name"] for c in spec.get("volumeClaimTemplates", [])]
        check(f"k8s: {name}: volumeClaimTemplates", bool(claims), "none")
        service = by_kind.get("Service", {}).get(spec.get("serviceName"))
        check(f"k8s: {name}: its headless Service exists and selects it",
              service is not None and service["spec"].get("clusterIP") == "None"
              and all(labels.get(k) == v for k, v in service["spec"]["selector"].items()),
              f"serviceName {spec.get('serviceName')}")
        check(f"k8s: {name}: peer traffic does not wait for readiness",
              service is not None and service["spec"].get("publishNotReadyAddresses") is True,
              "publishNotReadyAddresses is not true")
        psc = pod.get("securityContext", {})
        check(f"k8s: {name}: runAsNonRoot as the image's user",
              psc.get("runAsNonRoot") is True and psc.get("runAsUser") == docker["uid"]
              and psc.get("runAsUser") != 0 and psc.get("fsGroup") == docker["gid"],
              f"{psc}")
        check(f"k8s: {name}: seccomp RuntimeDefault",
              psc.get("seccompProfile", {}).get("type") == "RuntimeDefault", f"{psc}")
        containers = pod.get("containers", [])
        for c in containers + pod.get("initContainers", []):
            sc = c.get("securityContext", {})
            check(f"k8s: {name}/{c['name']}: read-only root, no privilege, no capability",
                  sc.get("readOnlyRootFilesystem") is True
                  and sc.get("allowPrivilegeEscalation") is False
                  and "ALL" in sc.get("capabilities", {}).get("drop", []), f"{sc}")
            res = c.get("resources", {})
            check(f"k8s: {name}/{c['name']}: resource requests and limits",
                  all(k in res.get(kind, {}) for kind in ("requests", "limits")
                      for k in ("cpu", "memory")), f"{res}")
        main = containers[0]
        probe = docker["entrypoint"] + ["health"]
        ready = main.get("readinessProbe", {}).get("exec", {}).get("command")
        live = main.get("livenessProbe", {}).get("exec", {}).get("command")
        check(f"k8s: {name}: readiness probe is `entrypoint.sh health`", ready == probe,
              f"{ready}")
        check(f"k8s: {name}: liveness probe is `entrypoint.sh health --live`",
              live == probe + ["--live"], f"{live}")
        volumes = {v["name"]: v for v in pod.get("volumes", [])}
        for v in volumes.values():
            if "configMap" in v:
                check(f"k8s: {name}: ConfigMap {v['configMap']['name']} exists",
                      v["configMap"]["name"] in by_kind.get("ConfigMap", {}), "missing")
            if "secret" in v:
                check(f"k8s: {name}: Secret {v['secret']['secretName']} is the one "
                      "make-secrets.sh makes",
                      v["secret"]["secretName"] == f"wlsync-{instance}-keys", "other name")
        mounts = {m["mountPath"]: m["name"] for m in main.get("volumeMounts", [])}
        config_dir = os.path.dirname(docker["env"].get("WLSYNC_CONFIG", "/etc/wlsync/x"))
        cm_volume = volumes.get(mounts.get(config_dir), {})
        cm_name = cm_volume.get("configMap", {}).get("name")
        text = config_of(docs, cm_name) if cm_name else None
        if not check(f"k8s: {name}: the ConfigMap at {config_dir} holds wlsyncd.toml",
                     text is not None, f"{mounts}"):
            continue
        try:
            config = tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            check(f"k8s: {name}: its config is valid TOML", False, str(e))
            continue
        node = config.get("node", {})
        check(f"k8s: {name}: the config's node name is the instance",
              node.get("name") == instance, f"{node.get('name')}")
        check(f"k8s: {name}: data_dir is the volume claim's mount",
              mounts.get(node.get("data_dir")) in claims, f"{node.get('data_dir')}")
        ports = {p["name"]: p["containerPort"] for p in main.get("ports", [])}
        check(f"k8s: {name}: grpc port is api.listen's",
              ports.get("grpc") == port_of(config.get("api", {}).get("listen", ":0")),
              f"{ports}")
        check(f"k8s: {name}: metrics port is metrics.listen's, on all interfaces",
              config.get("metrics", {}).get("listen") == f"0.0.0.0:{ports.get('metrics')}",
              f"{config.get('metrics')}")
        check(f"k8s: {name}: the Service's ports target the container's",
              service is not None and all(p["targetPort"] in ports
                                          for p in service["spec"]["ports"]), "unknown port")
        files = [node.get(k) for k in ("signing_key", "federation_key", "data_key")]
        files += [config.get("tls", {}).get(k) for k in ("cert", "key", "ca")]
        files += [p.get("cert") for p in config.get("peers", [])]
        keys_dir = next((m for m in mounts if m != config_dir
                         and all((f or "").startswith(m + "/") for f in files)), None)
        wanted = {re.sub(r"^peer-.*\.crt$", "peer-PEER.crt", os.path.basename(f or ""))
                  for f in files}
        check(f"k8s: {name}: every key file is a key of the Secret template",
              keys_dir is not None and wanted <= template_keys,
              f"{sorted(wanted - template_keys)} in {keys_dir}")
        for p in config.get("peers", []):
            host, _, port = p["address"].rpartition(":")
            peer_service = by_kind.get("Service", {}).get(host)
            check(f"k8s: {name}: peer {p['name']}'s address is its Service's gRPC port",
                  peer_service is not None
                  and int(port) in [s["port"] for s in peer_service["spec"]["ports"]],
                  p["address"])


def cmd_secret(args):
    """Lays the Secret out as the kubelet does: files are links into a ..data folder."""
    secret = yaml.safe_load(open(args.yaml, encoding="utf-8"))
    check("make-secrets: prints one Secret", secret.get("kind") == "Secret", f"{secret}")
    data = secret.get("data", {})
    stamp = os.path.join(args.dir, "..2000_01_01_00_00_00.0")
    os.makedirs(stamp)
    for key, value in data.items():
        with open(os.path.join(stamp, key), "wb") as f:
            f.write(base64.b64decode(value))
        os.chmod(os.path.join(stamp, key), 0o440)
        os.symlink(os.path.join("..data", key), os.path.join(args.dir, key))
    os.symlink(os.path.basename(stamp), os.path.join(args.dir, "..data"))
    print(json.dumps({"name": secret["metadata"]["name"], "keys": sorted(data)}),
          file=sys.stderr)


def cmd_k8s_config(args):
    _, docs = load_k8s(args.repo)
    text = config_of(docs, f"wlsync-{args.name}-config")
    if not check(f"k8s: ConfigMap wlsync-{args.name}-config", text is not None, "missing"):
        return
    config = tomllib.loads(text)
    facts = {"text": text, "listen": config["api"]["listen"],
             "metrics": config.get("metrics", {}).get("listen"),
             "peers": [p["address"] for p in config.get("peers", [])]}
    with open(args.facts, "w", encoding="utf-8") as f:
        json.dump(facts, f, indent=1)


def cmd_peers_connected(args):
    text = open(args.status_file, encoding="utf-8").read()
    try:
        status = json.loads(text)
    except json.JSONDecodeError:
        sys.exit(1)
    peers = status.get("peers", [])
    sys.exit(0 if peers and all(p.get("connected") for p in peers) else 1)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("dockerfile")
    p.add_argument("repo")
    p.add_argument("--facts", required=True)
    p = sub.add_parser("unit")
    p.add_argument("file")
    p = sub.add_parser("compose")
    p.add_argument("repo")
    p.add_argument("docker_facts")
    p.add_argument("--facts", required=True)
    p = sub.add_parser("k8s")
    p.add_argument("repo")
    p.add_argument("docker_facts")
    p = sub.add_parser("secret")
    p.add_argument("yaml")
    p.add_argument("dir")
    p = sub.add_parser("k8s-config")
    p.add_argument("repo")
    p.add_argument("name")
    p.add_argument("--facts", required=True)
    p = sub.add_parser("peers-connected")
    p.add_argument("status_file")
    args = parser.parse_args()
    {"dockerfile": cmd_dockerfile, "unit": cmd_unit, "compose": cmd_compose, "k8s": cmd_k8s,
     "secret": cmd_secret, "k8s-config": cmd_k8s_config,
     "peers-connected": cmd_peers_connected}[args.command](args)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
