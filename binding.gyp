# node-gyp build of the same sources CMakeLists.txt builds (npm run build:gyp). cmake-js is the main build; this
# one exists for tools that only speak node-gyp. libtorch's location comes from scripts/find-libtorch.js.
# Node's common.gypi defines _GLIBCXX_USE_CXX11_ABI=1; libtorch's own ABI flag must replace it, not follow it.
# As in CMakeLists.txt: the addon links libtorch by name with no RPATH, and its loader (libvitorch_loader.so, a
# .so so that node-gyp-build never takes it for the addon) loads libtorch for it at run time. USE_C10D_GLOO and
# native/distributed/gloo_declarations: see CMakeLists.txt.
{
  "targets": [
    {
      "target_name": "vitorch",
      "sources": ["<!@(node scripts/sources.js)"],
      "include_dirs": [
        "native",
        "native/distributed/gloo_declarations",
        "<!(node -p \"require('path').dirname(require.resolve('node-addon-api/package.json'))\")",
        "<!@(node scripts/find-libtorch.js includeDirs)"
      ],
      "defines!": ["_GLIBCXX_USE_CXX11_ABI=1"],
      "defines": [
        "_GLIBCXX_USE_CXX11_ABI=<!(node scripts/find-libtorch.js cxx11Abi)",
        "NAPI_VERSION=8",
        "USE_C10D_GLOO",
        "NODE_ADDON_API_DISABLE_DEPRECATED",
        "NODE_ADDON_API_CPP_EXCEPTIONS"
      ],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++17"],
      "cflags_cc": ["-std=c++20", "-fexceptions", "-frtti", "-fvisibility=hidden", "-Wno-unused-parameter"],
      "libraries": ["<!@(node scripts/find-libtorch.js linkFlags)"]
    },
    {
      "target_name": "vitorch_loader",
      "product_prefix": "lib",
      "target_conditions": [["_type=='loadable_module'", { "product_extension": "so" }]],
      "sources": ["<!@(node scripts/sources.js loader)"],
      "defines": [
        "NAPI_VERSION=8",
        "VITORCH_BUILT_TORCH_VERSION=<!(node scripts/find-libtorch.js version)",
        "VITORCH_BUILT_CXX11_ABI=<!(node scripts/find-libtorch.js cxx11Abi)"
      ],
      "cflags_cc!": ["-std=gnu++17"],
      "cflags_cc": ["-std=c++20", "-fvisibility=hidden"],
      "libraries": ["-ldl"]
    }
  ]
}
