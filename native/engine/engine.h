// The inference engine on the ONNX Runtime C API: no Node-API here.
//
// libonnxruntime is opened with dlopen from a path the caller gives (the one
// onnxruntime-node ships, or ORT_ROOT's), once per path per process, and
// never closed. A Session owns an OrtSession, the report of which execution
// provider runs and why each other did not, and one worker thread that runs
// every Binding of the session in submission order. A Binding is a set of
// OrtValues created once over caller-owned memory: a run neither copies nor
// allocates tensors.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

struct OrtApi;
struct OrtEnv;
struct OrtSession;
struct OrtValue;
struct OrtMemoryInfo;
struct OrtRunOptions;

namespace sonoedge {
namespace engine {

// What went wrong; the binding maps these to error codes (ERR_SONOEDGE_ENGINE_*).
enum class ErrorKind : int32_t {
  kOk = 0,
  kLibrary = 1,         // libonnxruntime missing, unloadable, or older than the headers
  kModel = 2,           // ONNX Runtime could not create a session from the model
  kOption = 3,          // a session option ONNX Runtime rejected
  kProvider = 4,        // none of the requested execution providers could be used
  kProviderOption = 5,  // a provider exists but rejected one of its options
  kWarmup = 6,          // a warm-up run failed
  kBind = 7,            // buffers that do not fit the model
  kRun = 8,             // ONNX Runtime failed inside a run
  kClosed = 9,          // the session was closed
};

struct Error {
  ErrorKind kind = ErrorKind::kOk;
  std::string message;
  explicit operator bool() const { return kind != ErrorKind::kOk; }
};

enum class ProviderKind : int32_t { kTensorRT = 0, kCUDA = 1, kCPU = 2 };

struct ProviderSpec {
  ProviderKind kind = ProviderKind::kCPU;
  // ONNX Runtime's own option keys and values (TensorRT V2 / CUDA V2 keys),
  // already validated and mapped by the TypeScript side.
  std::vector<std::pair<std::string, std::string>> options;
  bool cpuArena = true;  // kCPU only
};

struct SessionOptions {
  std::string libraryPath;
  std::string modelPath;
  int32_t intraOpThreads = 0;  // 0: ONNX Runtime's default
  int32_t interOpThreads = 0;
  int32_t graphOptimizationLevel = 99;  // ORT's GraphOptimizationLevel values
  std::string optimizedModelPath;       // empty: none written
  std::vector<std::pair<std::string, int64_t>> freeDimensions;
  bool deterministic = false;
  int32_t logSeverity = 3;  // 0 verbose .. 4 fatal
  std::vector<std::pair<std::string, std::string>> configEntries;
  std::vector<ProviderSpec> providers;  // in priority order
  int32_t warmupRuns = 0;
};

struct ProviderOutcome {
  ProviderKind kind;
  bool used = false;
  std::string reason;  // why it is not used; empty when used
};

struct TensorInfo {
  std::string name;
  int32_t elementType = 0;  // ONNXTensorElementDataType; 0 for a non-tensor value
  std::vector<int64_t> dims;  // -1 for a free dimension
  std::vector<std::string> symbols;  // the free dimensions' names, "" where none
};

struct Buffer {
  int32_t index = 0;  // input or output index in the model
  int32_t elementType = 0;
  std::vector<int64_t> dims;
  void* data = nullptr;
  size_t byteLength = 0;
};

struct Timings {
  int64_t submitNs = 0, startNs = 0, endNs = 0;
};

class Runtime;
class Session;

// OrtValues over caller memory, created once. The caller keeps the memory alive
// and unchanged in size while the binding exists.
class Binding {
 public:
  ~Binding();
  Binding(const Binding&) = delete;
  Binding& operator=(const Binding&) = delete;

 private:
  friend class Session;
  Binding() = default;
  std::shared_ptr<Runtime> runtime_;
  std::vector<const char*> inNames_, outNames_;
  std::vector<OrtValue*> inValues_, outValues_;
  OrtRunOptions* runOptions_ = nullptr;  // run-level logging off: failures reach the caller as errors
};

// One queued run. The submitter owns it; `done` is called on the worker thread
// when it has run (or failed, or the session was closed before it ran).
struct Job {
  Binding* binding = nullptr;  // nullptr: the close sentinel
  Timings timings;
  Error error;
  void* user = nullptr;
};

class Session {
 public:
  using Done = std::function<void(Job*)>;

  // Opens the library, creates the session with the first providers that can be
  // appended, and runs the warm-up. Blocking; call it off the event loop.
  static std::unique_ptr<Session> Create(const SessionOptions& options, Error* error);
  ~Session();

  const std::vector<TensorInfo>& inputs() const { return inputs_; }
  const std::vector<TensorInfo>& outputs() const { return outputs_; }
  ProviderKind provider() const { return provider_; }
  const std::vector<ProviderOutcome>& providerReport() const { return report_; }
  const std::string& libraryVersion() const;
  double warmupMs() const { return warmupMs_; }
  // The session config entries as ONNX Runtime holds them in the options the
  // session was created from (read back with GetSessionConfigEntry), in the
  // order they were set: proof that an option reached ONNX Runtime.
  const std::vector<std::pair<std::string, std::string>>& sessionConfig() const { return config_; }

  std::unique_ptr<Binding> Bind(const std::vector<Buffer>& inputs, const std::vector<Buffer>& outputs,
                                Error* error) const;

  // Starts the worker thread; `done` runs on it after every job.
  void Start(Done done);
  // Queues a run; returns false (and does not queue) once Close() was called.
  bool Submit(Job* job);
  // Queues the close sentinel after every job already queued: the worker runs
  // them, calls done(sentinel) and exits. Join() afterwards, then destroy.
  bool Close(Job* sentinel);
  void Join();
  // Runs a binding on the calling thread: the worker's run, and an inline run
  // on the caller's thread when nothing is queued (the binding layer checks).
  Error RunNow(const Binding& binding) const;

 private:
  Session() = default;
  void Loop();

  std::shared_ptr<Runtime> runtime_;
  OrtSession* session_ = nullptr;
  std::vector<TensorInfo> inputs_, outputs_;
  ProviderKind provider_ = ProviderKind::kCPU;
  std::vector<ProviderOutcome> report_;
  double warmupMs_ = 0;
  std::vector<std::pair<std::string, std::string>> config_;

  Done done_;
  std::thread thread_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Job*> queue_;
  bool closing_ = false;
};

// Size in bytes of one element of an ONNXTensorElementDataType; 0 if unsupported.
size_t ElementSize(int32_t elementType);
// Monotonic nanoseconds.
int64_t NowNs();

}  // namespace engine
}  // namespace sonoedge
