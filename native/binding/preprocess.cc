// Node-API layer of frame preprocessing: a Plan object compiled from the flat
// options that TypeScript resolved and validated (src/preprocess/), with a
// synchronous run for the hot path and an asynchronous one on the libuv pool.
#include <napi.h>

#include <memory>
#include <string>

#include "binding/common.h"
#include "core/preprocess.h"

namespace sonoedge_binding {
namespace {

using sonoedge::Plan;
using sonoedge::PlanOptions;
using sonoedge::Status;

int32_t Int(const Napi::Object& o, const char* key) {
  return o.Get(key).As<Napi::Number>().Int32Value();
}
int64_t Int64(const Napi::Object& o, const char* key) {
  return o.Get(key).As<Napi::Number>().Int64Value();
}
double Dbl(const Napi::Object& o, const char* key) {
  return o.Get(key).As<Napi::Number>().DoubleValue();
}
bool Bool(const Napi::Object& o, const char* key) { return o.Get(key).As<Napi::Boolean>().Value(); }

// Copies the resolved options (src/preprocess/types.ts ResolvedPlanOptions)
// into the baton. TypeScript has validated every value; only types are
// assumed here, and the core compiler still rejects what it cannot run.
PlanOptions ReadOptions(const Napi::Object& o) {
  PlanOptions p;
  p.width = Int(o, "width");
  p.height = Int(o, "height");
  p.stride = Int(o, "stride");
  p.uvOffset = Int64(o, "uvOffset");
  p.format = static_cast<sonoedge::PixelFormat>(Int(o, "format"));
  p.yuvRange = static_cast<sonoedge::YuvRange>(Int(o, "yuvRange"));
  p.yuvMatrix = static_cast<sonoedge::YuvMatrix>(Int(o, "yuvMatrix"));
  Napi::Object roi = o.Get("roi").As<Napi::Object>();
  p.roi.x = Int(roi, "x");
  p.roi.y = Int(roi, "y");
  p.roi.width = Int(roi, "width");
  p.roi.height = Int(roi, "height");
  p.scanConvert = Bool(o, "scanConvert");
  Napi::Object sector = o.Get("sector").As<Napi::Object>();
  p.sector.angleStart = Dbl(sector, "angleStart");
  p.sector.angleEnd = Dbl(sector, "angleEnd");
  p.sector.depthStart = Dbl(sector, "depthStart");
  p.sector.depthEnd = Dbl(sector, "depthEnd");
  p.outWidth = Int(o, "outWidth");
  p.outHeight = Int(o, "outHeight");
  p.channels = Int(o, "channels");
  p.channelOrder = static_cast<sonoedge::ChannelOrder>(Int(o, "channelOrder"));
  p.resize = static_cast<sonoedge::ResizeMode>(Int(o, "resize"));
  p.letterbox = Bool(o, "letterbox");
  p.padValue = static_cast<float>(Dbl(o, "padValue"));
  Napi::Array alpha = o.Get("alpha").As<Napi::Array>();
  Napi::Array beta = o.Get("beta").As<Napi::Array>();
  for (uint32_t c = 0; c < 3; ++c) {
    p.alpha[c] = static_cast<float>(alpha.Get(c).As<Napi::Number>().DoubleValue());
    p.beta[c] = static_cast<float>(beta.Get(c).As<Napi::Number>().DoubleValue());
  }
  p.dtype = static_cast<sonoedge::DType>(Int(o, "dtype"));
  p.layout = static_cast<sonoedge::Layout>(Int(o, "layout"));
  p.batchSize = Int(o, "batchSize");
  p.simd = static_cast<sonoedge::SimdLevel>(Int(o, "simd"));
  return p;
}

void ThrowStatus(const Napi::Env& env, Status status, const std::string& message) {
  switch (status) {
    case Status::kBufferTooSmall:
      ThrowWithCode(env, "RangeError", "ERR_SONOEDGE_FRAME_TOO_SHORT", message);
      break;
    case Status::kOutputMismatch:
      ThrowWithCode(env, "RangeError", "ERR_SONOEDGE_OUTPUT_SIZE", message);
      break;
    case Status::kUnsupported:
      ThrowWithCode(env, "Error", "ERR_SONOEDGE_UNSUPPORTED", message);
      break;
    default:
      ThrowWithCode(env, "RangeError", "ERR_SONOEDGE_PLAN_OPTION", message);
  }
}

const char* StatusCode(Status status) {
  switch (status) {
    case Status::kBufferTooSmall: return "ERR_SONOEDGE_FRAME_TOO_SHORT";
    case Status::kOutputMismatch: return "ERR_SONOEDGE_OUTPUT_SIZE";
    case Status::kUnsupported: return "ERR_SONOEDGE_UNSUPPORTED";
    default: return "ERR_SONOEDGE_PLAN_OPTION";
  }
}

// Runs one frame off the event loop. Execute() touches no V8 object: the
// pointers were taken on the JS thread and the references below keep the
// plan, the frame and the output alive until OnOK/OnError.
class RunWorker : public Napi::AsyncWorker {
 public:
  RunWorker(Napi::Env env, const Plan* plan, Bytes src, Bytes dst, int32_t batch)
      : Napi::AsyncWorker(env, "sonoedge:preprocess"),
        deferred_(Napi::Promise::Deferred::New(env)),
        plan_(plan), src_(src), dst_(dst), batch_(batch) {}

  void Keep(const Napi::Object& planObj, const Napi::Value& src, const Napi::Value& dst) {
    planRef_ = Napi::Persistent(planObj);
    srcRef_ = Napi::Persistent(src.As<Napi::Object>());
    dstRef_ = Napi::Persistent(dst.As<Napi::Object>());
  }
  Napi::Promise Promise() const { return deferred_.Promise(); }

  void Execute() override {
    status_ = plan_->run(src_.data, src_.length, dst_.data, dst_.length, batch_, &message_);
    if (status_ != Status::kOk) SetError(message_);
  }
  void OnOK() override { deferred_.Resolve(dstRef_.Value()); }
  void OnError(const Napi::Error& e) override {
    Napi::Env env = Env();
    Napi::Object err = e.Value();
    const char* ctor = status_ == Status::kUnsupported ? "Error" : "RangeError";
    Napi::Object typed = env.Global().Get(ctor).As<Napi::Function>().New(
        {err.Get("message")});
    typed.Set("code", Napi::String::New(env, StatusCode(status_)));
    deferred_.Reject(typed);
  }

 private:
  Napi::Promise::Deferred deferred_;
  const Plan* plan_;
  Bytes src_, dst_;
  int32_t batch_;
  Status status_ = Status::kOk;
  std::string message_;
  Napi::ObjectReference planRef_, srcRef_, dstRef_;
};

class NativePlan : public Napi::ObjectWrap<NativePlan> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "NativePlan",
                       {InstanceMethod<&NativePlan::Run>("run"),
                        InstanceMethod<&NativePlan::RunAsync>("runAsync"),
                        InstanceAccessor<&NativePlan::RequiredInputBytes>("requiredInputBytes"),
                        InstanceAccessor<&NativePlan::OutputElements>("outputElements"),
                        InstanceAccessor<&NativePlan::SimdLevel>("simdLevel")});
  }

  explicit NativePlan(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativePlan>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsObject()) {
      ThrowWithCode(env, "TypeError", "ERR_SONOEDGE_ARG_TYPE", "Expected an options object");
    }
    Status status = Status::kOk;
    std::string message;
    plan_ = Plan::compile(ReadOptions(info[0].As<Napi::Object>()), &status, &message);
    if (!plan_) ThrowStatus(env, status, message);
  }

 private:
  bool Args(const Napi::CallbackInfo& info, Bytes* src, Bytes* dst, int32_t* batch) {
    Napi::Env env = info.Env();
    if (!GetBytes(env, info[0], "frame", src)) return false;
    if (!GetBytes(env, info[1], "output", dst)) return false;
    *batch = info[2].IsNumber() ? info[2].As<Napi::Number>().Int32Value() : 0;
    return true;
  }

  Napi::Value Run(const Napi::CallbackInfo& info) {
    Bytes src, dst;
    int32_t batch = 0;
    Args(info, &src, &dst, &batch);
    std::string message;
    Status status = plan_->run(src.data, src.length, dst.data, dst.length, batch, &message);
    if (status != Status::kOk) ThrowStatus(info.Env(), status, message);
    return info[1];
  }

  Napi::Value RunAsync(const Napi::CallbackInfo& info) {
    Bytes src, dst;
    int32_t batch = 0;
    Args(info, &src, &dst, &batch);
    auto* worker = new RunWorker(info.Env(), plan_.get(), src, dst, batch);
    worker->Keep(info.This().As<Napi::Object>(), info[0], info[1]);
    worker->Queue();
    return worker->Promise();
  }

  Napi::Value RequiredInputBytes(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(plan_->requiredInputBytes()));
  }
  Napi::Value OutputElements(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(plan_->outputElements()));
  }
  Napi::Value SimdLevel(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<int32_t>(plan_->simdLevel()));
  }

  std::unique_ptr<Plan> plan_;
};

}  // namespace

Napi::Object InitPreprocess(Napi::Env env, Napi::Object exports) {
  exports.Set("NativePlan", NativePlan::Define(env));
  exports.Set("bestSimdLevel",
              Napi::Number::New(env, static_cast<int32_t>(sonoedge::bestSimdLevel())));
  return exports;
}

}  // namespace sonoedge_binding
