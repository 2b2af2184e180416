// The addon's loader: a tiny Node-API module that needs no libtorch. lib/binding.ts loads it first (with
// RTLD_GLOBAL), asks it what libtorch the addon was built against, then has it load the libtorch that
// lib/libtorch-locator.ts found, with RTLD_GLOBAL, before loading the addon itself. The addon records its libtorch
// libraries by name only (no RPATH), and the dynamic linker satisfies those names with the libraries already
// loaded: so one binary runs on any libtorch of its release, wherever it is installed.
#include <dlfcn.h>
#include <node_api.h>

#include <string>

// The build passes both bare (2.15.0+cu132, 1): quoting them through CMake and gyp alike is harder than this.
#ifndef VITORCH_BUILT_TORCH_VERSION
#error "the build defines VITORCH_BUILT_TORCH_VERSION (the libtorch version the addon is built against)"
#endif
#ifndef VITORCH_BUILT_CXX11_ABI
#error "the build defines VITORCH_BUILT_CXX11_ABI (the libstdc++ ABI the addon is built with)"
#endif
#define VITORCH_TEXT_OF(x) #x
#define VITORCH_TEXT(x) VITORCH_TEXT_OF(x)

namespace {

// Throws a JavaScript Error carrying dlerror()'s text. The handle of a library that did load is kept for the life of
// the process (closing it would unload libtorch under the addon). RTLD_LAZY: binding libtorch's symbols eagerly
// (RTLD_NOW) added about 0.1 s to require('vitorch'), for functions most programs never call.
napi_value open_global(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  if (napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) != napi_ok) return nullptr;
  size_t length = 0;
  if (argc != 1 || napi_get_value_string_utf8(env, argv[0], nullptr, 0, &length) != napi_ok) {
    napi_throw_type_error(env, nullptr, "openGlobal(path): expected a string for path");
    return nullptr;
  }
  std::string path(length, '\0');
  napi_get_value_string_utf8(env, argv[0], path.data(), length + 1, &length);
  if (dlopen(path.c_str(), RTLD_LAZY | RTLD_GLOBAL) == nullptr) {
    const char* reason = dlerror();
    std::string message = "could not load " + path + ": " + (reason != nullptr ? reason : "unknown reason");
    napi_throw_error(env, nullptr, message.c_str());
  }
  return nullptr;
}

napi_value string_value(napi_env env, const char* text) {
  napi_value value = nullptr;
  napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &value);
  return value;
}

}  // namespace

NAPI_MODULE_INIT() {
  napi_value open = nullptr;
  napi_create_function(env, "openGlobal", NAPI_AUTO_LENGTH, open_global, nullptr, &open);
  napi_set_named_property(env, exports, "openGlobal", open);
  napi_value build = nullptr;
  napi_create_object(env, &build);
  napi_set_named_property(env, build, "torchVersion", string_value(env, VITORCH_TEXT(VITORCH_BUILT_TORCH_VERSION)));
  napi_set_named_property(env, build, "cxx11Abi", string_value(env, VITORCH_TEXT(VITORCH_BUILT_CXX11_ABI)));
  napi_set_named_property(env, exports, "builtAgainst", build);
  return exports;
}
