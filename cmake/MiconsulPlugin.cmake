# miconsul_add_plugin(<name> <sources>...): builds <name>.so, a plugin the host can load.
#
# Hidden visibility exports only the entry point (MICONSUL_PLUGIN marks it); -fno-gnu-unique
# keeps the C++ runtime from pinning template statics across libraries.
function(miconsul_add_plugin name)
  add_library(${name} MODULE ${ARGN})
  target_link_libraries(${name} PRIVATE miconsul::sdk)
  set_target_properties(${name} PROPERTIES
    PREFIX ""
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON
    LIBRARY_OUTPUT_DIRECTORY "${MICONSUL_PLUGIN_OUTPUT_DIR}")
  target_compile_options(${name} PRIVATE -fno-gnu-unique)
endfunction()
