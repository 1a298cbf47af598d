{
  "variables": { "sonoedge_cflags": ["-O3", "-fvisibility=hidden", "-Wall", "-Wextra"] },
  "target_defaults": {
    "cflags!": ["-fno-exceptions"],
    "cflags_cc!": ["-fno-exceptions"],
    "cflags_cc": ["-std=c++17", "<@(sonoedge_cflags)"],
    "cflags": ["<@(sonoedge_cflags)"],
    "include_dirs": ["native"]
  },
  "targets": [
    {
      "target_name": "sonoedge_core_sse41",
      "type": "static_library",
      "sources": ["<!@(node scripts/gyp-sources.mjs sse41)"],
      "conditions": [["target_arch=='x64' or target_arch=='ia32'", { "cflags_cc": ["-msse4.1"] }]]
    },
    {
      "target_name": "sonoedge_core_avx2",
      "type": "static_library",
      "sources": ["<!@(node scripts/gyp-sources.mjs avx2)"],
      "conditions": [["target_arch=='x64' or target_arch=='ia32'", { "cflags_cc": ["-mavx2", "-mfma"] }]]
    },
    {
      "target_name": "sonoedge_core_neon",
      "type": "static_library",
      "sources": ["<!@(node scripts/gyp-sources.mjs neon)"]
    },
    {
      "target_name": "sonoedge",
      "sources": [
        "<!@(node scripts/gyp-sources.mjs base)",
        "native/binding/addon.cc",
        "native/binding/preprocess.cc",
        "native/binding/engine.cc",
        "native/binding/shm.cc",
        "native/engine/engine.cc"
      ],
      "dependencies": ["sonoedge_core_sse41", "sonoedge_core_avx2", "sonoedge_core_neon"],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "build/ort-headers"
      ],
      "libraries": ["-ldl", "-lpthread"],
      "defines": ["NAPI_VERSION=8", "NODE_ADDON_API_DISABLE_DEPRECATED", "NAPI_CPP_EXCEPTIONS"]
    }
  ]
}
