// BTF access: raw types by id and lookups by name, over vmlinux, module BTF (split
// on vmlinux) or a BPF object file. src/loader/btf.ts builds layouts from these.
#include <bpf/btf.h>

#include <cerrno>
#include <memory>
#include <string>

#include "common.h"

namespace bpfl {

namespace {

const char* KindName(int kind) {
  switch (kind) {
    case BTF_KIND_INT: return "int";
    case BTF_KIND_PTR: return "ptr";
    case BTF_KIND_ARRAY: return "array";
    case BTF_KIND_STRUCT: return "struct";
    case BTF_KIND_UNION: return "union";
    case BTF_KIND_ENUM: return "enum";
    case BTF_KIND_FWD: return "fwd";
    case BTF_KIND_TYPEDEF: return "typedef";
    case BTF_KIND_VOLATILE: return "volatile";
    case BTF_KIND_CONST: return "const";
    case BTF_KIND_RESTRICT: return "restrict";
    case BTF_KIND_FUNC: return "func";
    case BTF_KIND_FUNC_PROTO: return "func_proto";
    case BTF_KIND_VAR: return "var";
    case BTF_KIND_DATASEC: return "datasec";
    case BTF_KIND_FLOAT: return "float";
    case BTF_KIND_DECL_TAG: return "decl_tag";
    case BTF_KIND_TYPE_TAG: return "type_tag";
#ifdef BTF_KIND_ENUM64
    case BTF_KIND_ENUM64: return "enum64";
#endif
    default: return "unknown";
  }
}

int KindFromName(const std::string& n) {
  for (int k = 1; k < 32; k++)
    if (n == KindName(k)) return k;
  return -1;
}

class Btf : public Napi::ObjectWrap<Btf> {
 public:
  static void Init(Napi::Env env, Napi::Object exports) {
    Napi::Function f = DefineClass(env, "Btf",
                                   {InstanceMethod("count", &Btf::Count), InstanceMethod("find", &Btf::Find),
                                    InstanceMethod("type", &Btf::Type), InstanceMethod("close", &Btf::Close)});
    exports.Set("Btf", f);
  }

  // new Btf(path, base?): raw BTF (/sys/kernel/btf/*) or an ELF object's .BTF; with a
  // base, a split BTF (a module's) on top of it. The base is a path (parsed for this one
  // alone) or an open Btf, shared: vmlinux parsed once for all modules, not 6 MB each.
  explicit Btf(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Btf>(info) {
    Napi::Env env = info.Env();
    std::string path = info[0].ToString();
    LogCapture cap;
    if (info[1].IsObject()) {
      Napi::Object o = info[1].As<Napi::Object>();
      if (!o.InstanceOf(info.NewTarget().As<Napi::Function>())) {
        Napi::TypeError::New(env, "the base must be a Btf").ThrowAsJavaScriptException();
        return;
      }
      // A reference of our own: the base stays allocated while this one stands on it,
      // closed or collected first or not.
      base_ = Napi::ObjectWrap<Btf>::Unwrap(o)->self_;
      if (!base_) {
        Napi::Error::New(env, "the base BTF is closed").ThrowAsJavaScriptException();
        return;
      }
    } else if (info[1].IsString()) {
      std::string base_path = info[1].As<Napi::String>();
      base_ = Own(btf__parse(base_path.c_str(), nullptr));
      if (!base_) {
        MakeError(env, "cannot read BTF " + base_path, errno, cap.text()).ThrowAsJavaScriptException();
        return;
      }
    }
    self_ = Own(base_ ? btf__parse_split(path.c_str(), base_.get()) : btf__parse(path.c_str(), nullptr));
    btf_ = self_.get();
    if (!btf_) MakeError(env, "cannot read BTF " + path, errno, cap.text()).ThrowAsJavaScriptException();
  }

  ~Btf() override { Free(); }

 private:
  btf* btf_ = nullptr;
  std::shared_ptr<btf> self_;
  std::shared_ptr<btf> base_;

  static std::shared_ptr<btf> Own(btf* b) { return b ? std::shared_ptr<btf>(b, btf__free) : nullptr; }

  void Free() {
    // The split one first: it points into its base.
    btf_ = nullptr;
    self_.reset();
    base_.reset();
  }

  bool Open(Napi::Env env) {
    if (btf_) return true;
    Napi::Error::New(env, "BTF is closed").ThrowAsJavaScriptException();
    return false;
  }

  Napi::Value Count(const Napi::CallbackInfo& info) {
    if (!Open(info.Env())) return info.Env().Undefined();
    return Napi::Number::New(info.Env(), btf__type_cnt(btf_));
  }

  // find(name, kind) -> type id, or -1.
  Napi::Value Find(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Open(env)) return env.Undefined();
    std::string name = info[0].ToString();
    int kind = KindFromName(info[1].ToString());
    if (kind < 0) {
      Napi::TypeError::New(env, "unknown BTF kind").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    int id = btf__find_by_name_kind(btf_, name.c_str(), kind);
    return Napi::Number::New(env, id > 0 ? id : -1);
  }

  // type(id) -> { id, kind, name, size?, typeId?, members?, params?, values?, vars?, ... }
  Napi::Value Type(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Open(env)) return env.Undefined();
    uint32_t id = info[0].ToNumber().Uint32Value();
    if (id == 0 || id >= btf__type_cnt(btf_)) return env.Null();
    const btf_type* t = btf__type_by_id(btf_, id);
    int kind = btf_kind(t);
    Napi::Object o = Napi::Object::New(env);
    o.Set("id", id);
    o.Set("kind", KindName(kind));
    o.Set("name", btf__name_by_offset(btf_, t->name_off));
    uint16_t vlen = btf_vlen(t);
    switch (kind) {
      case BTF_KIND_INT: {
        uint32_t enc = *reinterpret_cast<const uint32_t*>(t + 1);
        o.Set("size", t->size);
        o.Set("bits", BTF_INT_BITS(enc));
        o.Set("signed", (BTF_INT_ENCODING(enc) & BTF_INT_SIGNED) != 0);
        break;
      }
      case BTF_KIND_FLOAT:
        o.Set("size", t->size);
        break;
      case BTF_KIND_PTR:
      case BTF_KIND_TYPEDEF:
      case BTF_KIND_VOLATILE:
      case BTF_KIND_CONST:
      case BTF_KIND_RESTRICT:
      case BTF_KIND_TYPE_TAG:
      case BTF_KIND_FUNC:
        o.Set("typeId", t->type);
        break;
      case BTF_KIND_VAR:
        o.Set("typeId", t->type);
        o.Set("linkage", btf_var(t)->linkage);
        break;
      case BTF_KIND_ARRAY: {
        const struct btf_array* a = btf_array(t);
        o.Set("typeId", a->type);
        o.Set("nelems", a->nelems);
        break;
      }
      case BTF_KIND_STRUCT:
      case BTF_KIND_UNION: {
        o.Set("size", t->size);
        Napi::Array members = Napi::Array::New(env, vlen);
        const btf_member* m = btf_members(t);
        for (uint16_t i = 0; i < vlen; i++) {
          Napi::Object mo = Napi::Object::New(env);
          mo.Set("name", btf__name_by_offset(btf_, m[i].name_off));
          mo.Set("typeId", m[i].type);
          mo.Set("bitOffset", btf_member_bit_offset(t, i));
          mo.Set("bitfieldSize", btf_member_bitfield_size(t, i));
          members.Set(i, mo);
        }
        o.Set("members", members);
        break;
      }
      case BTF_KIND_ENUM: {
        o.Set("size", t->size);
        Napi::Array values = Napi::Array::New(env, vlen);
        const struct btf_enum* e = btf_enum(t);
        for (uint16_t i = 0; i < vlen; i++) {
          Napi::Object vo = Napi::Object::New(env);
          vo.Set("name", btf__name_by_offset(btf_, e[i].name_off));
          vo.Set("value", e[i].val);
          values.Set(i, vo);
        }
        o.Set("values", values);
        break;
      }
      case BTF_KIND_FUNC_PROTO: {
        o.Set("typeId", t->type);
        Napi::Array params = Napi::Array::New(env, vlen);
        const btf_param* p = btf_params(t);
        for (uint16_t i = 0; i < vlen; i++) {
          Napi::Object po = Napi::Object::New(env);
          po.Set("name", btf__name_by_offset(btf_, p[i].name_off));
          po.Set("typeId", p[i].type);
          params.Set(i, po);
        }
        o.Set("params", params);
        break;
      }
      case BTF_KIND_DATASEC: {
        o.Set("size", t->size);
        Napi::Array vars = Napi::Array::New(env, vlen);
        const btf_var_secinfo* v = btf_var_secinfos(t);
        for (uint16_t i = 0; i < vlen; i++) {
          Napi::Object vo = Napi::Object::New(env);
          vo.Set("typeId", v[i].type);
          vo.Set("offset", v[i].offset);
          vo.Set("size", v[i].size);
          vars.Set(i, vo);
        }
        o.Set("vars", vars);
        break;
      }
      default:
        break;
    }
    return o;
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    Free();
    return info.Env().Undefined();
  }
};

}  // namespace

void InitBtf(Napi::Env env, Napi::Object exports) { Btf::Init(env, exports); }

}  // namespace bpfl
