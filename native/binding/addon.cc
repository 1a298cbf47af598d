// Module entry: one Init per capability, each in its own file.
#include <napi.h>

#include "binding/common.h"

namespace sonoedge_binding {

Napi::Object InitPreprocess(Napi::Env env, Napi::Object exports);
Napi::Object InitEngine(Napi::Env env, Napi::Object exports);
Napi::Object InitShm(Napi::Env env, Napi::Object exports);

bool GetBytes(const Napi::Env& env, const Napi::Value& value, const char* what, Bytes* out) {
  if (value.IsTypedArray()) {
    Napi::TypedArray ta = value.As<Napi::TypedArray>();
    Napi::ArrayBuffer ab = ta.ArrayBuffer();
    out->data = static_cast<uint8_t*>(ab.Data()) + ta.ByteOffset();
    out->length = ta.ByteLength();
    return true;
  }
  if (value.IsDataView()) {
    Napi::DataView dv = value.As<Napi::DataView>();
    out->data = static_cast<uint8_t*>(dv.ArrayBuffer().Data()) + dv.ByteOffset();
    out->length = dv.ByteLength();
    return true;
  }
  if (value.IsArrayBuffer()) {
    Napi::ArrayBuffer ab = value.As<Napi::ArrayBuffer>();
    out->data = static_cast<uint8_t*>(ab.Data());
    out->length = ab.ByteLength();
    return true;
  }
  ThrowWithCode(env, "TypeError", "ERR_SONOEDGE_ARG_TYPE",
                std::string("Expected Buffer, TypedArray or ArrayBuffer for ") + what);
  return false;
}

void ThrowWithCode(const Napi::Env& env, const char* ctor, const std::string& code,
                   const std::string& message) {
  Napi::Function fn = env.Global().Get(ctor).As<Napi::Function>();
  Napi::Object err = fn.New({Napi::String::New(env, message)});
  err.Set("code", Napi::String::New(env, code));
  throw Napi::Error(env, err);
}

}  // namespace sonoedge_binding

static Napi::Object InitSonoedge(Napi::Env env, Napi::Object exports) {
  sonoedge_binding::InitPreprocess(env, exports);
  sonoedge_binding::InitEngine(env, exports);
  sonoedge_binding::InitShm(env, exports);
  return exports;
}

NODE_API_MODULE(sonoedge, InitSonoedge)
