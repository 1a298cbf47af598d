// Shared helpers of the Node-API layer: reading caller memory without copying
// and throwing errors that carry a code.
#pragma once

#include <napi.h>

#include <cstddef>
#include <cstdint>
#include <string>

namespace sonoedge_binding {

struct Bytes {
  uint8_t* data = nullptr;
  size_t length = 0;
};

// The bytes of a Buffer, TypedArray, DataView or ArrayBuffer, in place.
// Returns false (and throws a TypeError with `code`) for anything else.
bool GetBytes(const Napi::Env& env, const Napi::Value& value, const char* what, Bytes* out);

// Throws a JS error of the given constructor (TypeError, RangeError, Error)
// with `code` set.
void ThrowWithCode(const Napi::Env& env, const char* ctor, const std::string& code,
                   const std::string& message);

}  // namespace sonoedge_binding
