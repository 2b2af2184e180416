# node-gyp build of the same sources CMakeLists.txt builds (npm run build:gyp). cmake-js is the main build; this
# one exists for tools that only speak node-gyp. libtorch's location comes from scripts/find-libtorch.js.
# Node's common.gypi defines _GLIBCXX_USE_CXX11_ABI=1; libtorch's own ABI flag must replace it, not follow it.
{
  "targets": [
    {
      "target_name": "vitorch",
      "sources": ["<!@(node scripts/sources.js)"],
      "include_dirs": [
        "native",
        "<!(node -p \"require('path').dirname(require.resolve('node-addon-api/package.json'))\")",
        "<!@(node scripts/find-libtorch.js includeDirs)"
      ],
      "defines!": ["_GLIBCXX_USE_CXX11_ABI=1"],
      "defines": [
        "_GLIBCXX_USE_CXX11_ABI=<!(node scripts/find-libtorch.js cxx11Abi)",
        "NAPI_VERSION=8",
        "NODE_ADDON_API_DISABLE_DEPRECATED",
        "NODE_ADDON_API_CPP_EXCEPTIONS"
      ],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++17"],
      "cflags_cc": ["-std=c++20", "-fexceptions", "-frtti", "-fvisibility=hidden", "-Wno-unused-parameter"],
      "libraries": ["<!@(node scripts/find-libtorch.js linkFlags)"]
    }
  ]
}
