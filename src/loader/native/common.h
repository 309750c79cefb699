// Shared pieces of the bpf-loader-ts addon: libbpf log capture and error helpers.
#pragma once

#include <napi.h>

#include <string>

namespace bpfl {

// libbpf reports through one global print callback. Each libbpf call we make runs
// under a LogCapture on its own thread, so the messages of that call (including
// the verifier log libbpf prints on a failed load) end up in its error.
class LogCapture {
 public:
  LogCapture();
  ~LogCapture();
  const std::string& text() const { return text_; }
  void append(const char* s) { text_ += s; }

 private:
  std::string text_;
  LogCapture* prev_;
};

void InstallLibbpfPrint();

// Throws a JS Error with the message, errno name and number, and libbpf's log.
Napi::Error MakeError(Napi::Env env, const std::string& what, int err, const std::string& log = "");
std::string ErrnoMessage(const std::string& what, int err, const std::string& log);

void InitObject(Napi::Env env, Napi::Object exports);
void InitRingbuf(Napi::Env env, Napi::Object exports);
void InitFeatures(Napi::Env env, Napi::Object exports);
void InitBtf(Napi::Env env, Napi::Object exports);
void InitMaps(Napi::Env env, Napi::Object exports);

// Teardown on environment exit: consumers first, then links, then objects.
void RegisterCleanup(Napi::Env env);

}  // namespace bpfl
