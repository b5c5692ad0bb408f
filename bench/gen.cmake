# wlsync-gen: writes deterministic synthetic registries (commuters.csv, a changes file, and
# spreadsheet quirks with the expected import result) for benchmarks and end-to-end tests.
# Included from bench/CMakeLists.txt; usage is in bench/gen_commuters.cc.
add_executable(wlsync-gen ${CMAKE_CURRENT_LIST_DIR}/gen_commuters.cc)
target_link_libraries(wlsync-gen PRIVATE wlsync_model CLI11::CLI11)
