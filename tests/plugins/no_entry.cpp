// A real shared library that forgot MICONSUL_PLUGIN: no entry symbol.
extern "C" __attribute__((visibility("default"))) int some_other_function(void) { return 42; }
