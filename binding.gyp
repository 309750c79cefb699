{
  "targets": [
    {
      "target_name": "bpf_loader",
      "sources": [
        "src/loader/native/addon.cc",
        "src/loader/native/object.cc",
        "src/loader/native/ringbuf.cc",
        "src/loader/native/features.cc",
        "src/loader/native/btf.cc",
        "src/loader/native/maps.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra", "-Wno-unused-parameter", "-Wno-missing-field-initializers"],
      "libraries": ["<!@(pkg-config --libs libbpf)"],
      "cflags": ["<!@(pkg-config --cflags libbpf)"]
    }
  ]
}
