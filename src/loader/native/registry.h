// Everything the addon must release when the JS environment goes away, in the
// safe order: ring-buffer consumers (tier 0) before objects and their links (tier 1).
#pragma once

#include <napi.h>

#include <set>

namespace bpfl {

class Registry;

class Closeable {
 public:
  virtual ~Closeable() = default;
  virtual void Teardown() = 0;
  Registry* registry = nullptr;
  int tier = 1;
};

class Registry {
 public:
  static Registry& Get(Napi::Env env) { return *env.GetInstanceData<Registry>(); }
  void Add(Closeable* c) {
    c->registry = this;
    items_.insert(c);
  }
  void Remove(Closeable* c) {
    items_.erase(c);
    c->registry = nullptr;
  }
  ~Registry() {
    for (int tier = 0; tier <= 1; tier++) {
      for (auto it = items_.begin(); it != items_.end();) {
        Closeable* c = *it;
        if (c->tier != tier) {
          ++it;
          continue;
        }
        c->Teardown();
        c->registry = nullptr;
        it = items_.erase(it);
      }
    }
  }

 private:
  std::set<Closeable*> items_;
};

}  // namespace bpfl
