#include "grpcurl/grpcurl_format.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <set>
#include <vector>

#include <google/protobuf/descriptor.h>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "grpcurl/go_json.hpp"

namespace cantdo::grpcurl {
namespace {

namespace pb = google::protobuf;
using FD = pb::FieldDescriptor;

// The types protoreflect's dynamic messages hand to jsonpb instead of
// marshalling themselves (dynamic/json.go: wellKnownTypeNames).
bool IsWellKnown(const pb::Descriptor* d) {
  static const std::set<std::string, std::less<>> kNames = {
      "google.protobuf.Any",         "google.protobuf.Empty",       "google.protobuf.Duration",
      "google.protobuf.Timestamp",   "google.protobuf.Struct",      "google.protobuf.Value",
      "google.protobuf.ListValue",   "google.protobuf.DoubleValue", "google.protobuf.FloatValue",
      "google.protobuf.Int64Value",  "google.protobuf.UInt64Value", "google.protobuf.Int32Value",
      "google.protobuf.UInt32Value", "google.protobuf.BoolValue",   "google.protobuf.StringValue",
      "google.protobuf.BytesValue"};
  return kNames.contains(d->full_name());
}

bool IsWrapper(const pb::Descriptor* d) {
  return absl::StartsWith(d->full_name(), "google.protobuf.") && absl::EndsWith(d->full_name(), "Value") &&
         d->full_name() != "google.protobuf.Value" && d->full_name() != "google.protobuf.ListValue";
}

// One value: field `f` of `m`, element `index` if repeated (-1: singular).
struct Slot {
  const pb::Message& m;
  const FD* f;
  int index;

  const pb::Reflection& r() const { return *m.GetReflection(); }
  int32_t Int32() const { return index < 0 ? r().GetInt32(m, f) : r().GetRepeatedInt32(m, f, index); }
  int64_t Int64() const { return index < 0 ? r().GetInt64(m, f) : r().GetRepeatedInt64(m, f, index); }
  uint32_t UInt32() const { return index < 0 ? r().GetUInt32(m, f) : r().GetRepeatedUInt32(m, f, index); }
  uint64_t UInt64() const { return index < 0 ? r().GetUInt64(m, f) : r().GetRepeatedUInt64(m, f, index); }
  double Double() const { return index < 0 ? r().GetDouble(m, f) : r().GetRepeatedDouble(m, f, index); }
  float Float() const { return index < 0 ? r().GetFloat(m, f) : r().GetRepeatedFloat(m, f, index); }
  bool Bool() const { return index < 0 ? r().GetBool(m, f) : r().GetRepeatedBool(m, f, index); }
  int Enum() const { return index < 0 ? r().GetEnumValue(m, f) : r().GetRepeatedEnumValue(m, f, index); }
  std::string String() const { return index < 0 ? r().GetString(m, f) : r().GetRepeatedString(m, f, index); }
  const pb::Message& Message() const { return index < 0 ? r().GetMessage(m, f) : r().GetRepeatedMessage(m, f, index); }
};

// A map key as Go holds it, for sorting like protoreflect's `sortable` and
// jsonpb's sort.Slice (numbers by value, strings by bytes, false < true).
struct MapKey {
  int kind = 0;  // 0 signed, 1 unsigned, 2 string, 3 bool
  int64_t i = 0;
  uint64_t u = 0;
  std::string s;
  bool operator<(const MapKey& o) const {
    if (kind == 0) return i < o.i;
    if (kind == 1) return u < o.u;
    if (kind == 2) return s < o.s;
    return !u && o.u;
  }
  // fmt.Sprint(key) / strconv of the key: what both put between quotes.
  std::string Text() const {
    if (kind == 0) return absl::StrCat(i);
    if (kind == 1) return absl::StrCat(u);
    if (kind == 2) return s;
    return u ? "true" : "false";
  }
};

MapKey KeyOf(const pb::Message& entry) {
  const FD* k = entry.GetDescriptor()->map_key();
  Slot s{entry, k, -1};
  MapKey key;
  switch (k->cpp_type()) {
    case FD::CPPTYPE_INT32:
      key.i = s.Int32();
      break;
    case FD::CPPTYPE_INT64:
      key.i = s.Int64();
      break;
    case FD::CPPTYPE_UINT32:
      key.kind = 1;
      key.u = s.UInt32();
      break;
    case FD::CPPTYPE_UINT64:
      key.kind = 1;
      key.u = s.UInt64();
      break;
    case FD::CPPTYPE_BOOL:
      key.kind = 3;
      key.u = s.Bool();
      break;
    default:
      key.kind = 2;
      key.s = s.String();
      break;
  }
  return key;
}

// A map field's entries in Go's order.
std::vector<const pb::Message*> SortedEntries(const pb::Message& m, const FD* f) {
  std::vector<std::pair<MapKey, const pb::Message*>> entries;
  const pb::Reflection& r = *m.GetReflection();
  for (int i = 0; i < r.FieldSize(m, f); ++i) {
    const pb::Message& e = r.GetRepeatedMessage(m, f, i);
    entries.emplace_back(KeyOf(e), &e);
  }
  std::stable_sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<const pb::Message*> out;
  for (auto& [k, e] : entries) out.push_back(e);
  return out;
}

std::string FieldName(const FD* f) { return f->has_json_name() ? f->json_name() : f->name(); }

bool Present(const pb::Message& m, const FD* f) {
  const pb::Reflection& r = *m.GetReflection();
  return f->is_repeated() ? r.FieldSize(m, f) > 0 : r.HasField(m, f);
}

std::vector<const FD*> FieldsByNumber(const pb::Descriptor* d) {
  std::vector<const FD*> fields;
  for (int i = 0; i < d->field_count(); ++i) fields.push_back(d->field(i));
  std::sort(fields.begin(), fields.end(), [](const FD* a, const FD* b) { return a->number() < b->number(); });
  return fields;
}

// "000" trimmed twice, then ".000": jsonpb's 0, 3, 6 or 9 fractional digits.
std::string TrimNanos(std::string x) {
  if (absl::EndsWith(x, "000")) x.resize(x.size() - 3);
  if (absl::EndsWith(x, "000")) x.resize(x.size() - 3);
  if (absl::EndsWith(x, ".000")) x.resize(x.size() - 4);
  return x;
}

// protoreflect's indentBuffer with Indent "  ": the layout of a dynamic
// message's JSON.
struct IndentBuffer {
  std::string out;
  int count = 0;

  void NewLine(bool comma) {
    if (comma) out.push_back(',');
    out.push_back('\n');
    for (int i = 0; i < count; ++i) out += "  ";
  }
  void Start() {
    ++count;
    NewLine(false);
  }
  void End() {
    --count;
    NewLine(false);
  }
  void MaybeNext(bool* first) {
    if (*first) {
      *first = false;
    } else {
      NewLine(true);
    }
  }
  void Sep() { out += ": "; }
};

class Writer {
 public:
  Writer(AnyTypes& types, const FormatOptions& options) : types_(types), options_(options) {}

  // jsonpb.Marshaler.MarshalToString(m).
  absl::StatusOr<std::string> Marshal(const pb::Message& m) {
    std::string out;
    absl::Status st = IsWellKnown(m.GetDescriptor()) ? PbMessage(m, "", "", &out) : Dynamic(m, &out);
    if (!st.ok()) return st;
    return out;
  }

 private:
  // ---- jhump/protoreflect dynamic/json.go ----

  // Message.MarshalJSONPB with the marshaler's Indent "  ".
  absl::Status Dynamic(const pb::Message& m, std::string* out) {
    IndentBuffer b;
    if (auto st = DynMessage(m, &b); !st.ok()) return st;
    *out += b.out;
    return absl::OkStatus();
  }

  absl::Status DynMessage(const pb::Message& m, IndentBuffer* b) {
    b->out.push_back('{');
    b->Start();
    bool first = true;
    for (const FD* f : FieldsByNumber(m.GetDescriptor())) {
      const bool present = Present(m, f);
      if (!present && (!options_.emit_defaults || f->containing_oneof() != nullptr)) continue;
      b->MaybeNext(&first);
      b->out += go::Quote(FieldName(f));
      b->Sep();
      if (f->is_map()) {
        b->out.push_back('{');
        b->Start();
        bool first_entry = true;
        for (const pb::Message* e : SortedEntries(m, f)) {
          b->MaybeNext(&first_entry);
          b->out += go::Quote(KeyOf(*e).Text());
          b->Sep();
          if (auto st = DynValue(Slot{*e, f->message_type()->map_value(), -1}, b); !st.ok()) return st;
        }
        b->End();
        b->out.push_back('}');
      } else if (f->is_repeated()) {
        b->out.push_back('[');
        b->Start();
        bool first_item = true;
        for (int i = 0; i < m.GetReflection()->FieldSize(m, f); ++i) {
          b->MaybeNext(&first_item);
          if (auto st = DynValue(Slot{m, f, i}, b); !st.ok()) return st;
        }
        b->End();
        b->out.push_back(']');
      } else if (!present && f->cpp_type() == FD::CPPTYPE_MESSAGE) {
        b->out += "null";  // an unset message's default is nil
      } else if (auto st = DynValue(Slot{m, f, -1}, b); !st.ok()) {
        return st;
      }
    }
    b->End();
    b->out.push_back('}');
    return absl::OkStatus();
  }

  // marshalKnownFieldValueJSON.
  absl::Status DynValue(const Slot& s, IndentBuffer* b) {
    std::string& out = b->out;
    switch (s.f->cpp_type()) {
      case FD::CPPTYPE_INT32:
        absl::StrAppend(&out, s.Int32());
        break;
      case FD::CPPTYPE_UINT32:
        absl::StrAppend(&out, s.UInt32());
        break;
      case FD::CPPTYPE_INT64:
        out += go::Quote(absl::StrCat(s.Int64()));
        break;
      case FD::CPPTYPE_UINT64:
        out += go::Quote(absl::StrCat(s.UInt64()));
        break;
      case FD::CPPTYPE_DOUBLE:
      case FD::CPPTYPE_FLOAT: {
        const bool is32 = s.f->cpp_type() == FD::CPPTYPE_FLOAT;
        const double v = is32 ? s.Float() : s.Double();
        if (std::isnan(v)) {
          out += "\"NaN\"";
        } else if (std::isinf(v)) {
          out += v > 0 ? "\"Infinity\"" : "\"-Infinity\"";
        } else {
          out += go::FormatFloatG(v, is32 ? 32 : 64);
        }
        break;
      }
      case FD::CPPTYPE_BOOL:
        out += s.Bool() ? "true" : "false";
        break;
      case FD::CPPTYPE_ENUM: {
        const int n = s.Enum();
        const pb::EnumValueDescriptor* v = s.f->enum_type()->FindValueByNumber(n);
        out += v ? go::Quote(v->name()) : absl::StrCat(n);
        break;
      }
      case FD::CPPTYPE_STRING:
        out += go::Quote(s.f->type() == FD::TYPE_BYTES ? absl::Base64Escape(s.String()) : s.String());
        break;
      case FD::CPPTYPE_MESSAGE: {
        const pb::Message& sub = s.Message();
        if (!IsWellKnown(sub.GetDescriptor())) return DynMessage(sub, b);
        // A generated well-known type: jsonpb marshals it on its own, and
        // every line after its first is indented to the current depth.
        std::string text;
        if (auto st = PbMessage(sub, "", "", &text); !st.ok()) return st;
        std::string prefix;
        for (int i = 0; i < b->count; ++i) prefix += "  ";
        std::vector<std::string> lines = absl::StrSplit(text, '\n');
        for (size_t i = 0; i < lines.size(); ++i) {
          if (i > 0) absl::StrAppend(&out, "\n", prefix);
          out.append(lines[i]);
        }
        break;
      }
    }
    return absl::OkStatus();
  }

  // ---- golang/protobuf v1.5 jsonpb/encode.go (jsonWriter, Indent "  ") ----

  // marshalMessage.
  absl::Status PbMessage(const pb::Message& m, const std::string& indent, std::string_view type_url, std::string* out) {
    const pb::Descriptor* d = m.GetDescriptor();
    if (!IsWellKnown(d)) {
      // A dynamic message marshals itself (JSONPBMarshaler); inside an Any,
      // jsonpb then re-marshals that JSON through a Go map to add "@type".
      std::string own;
      if (auto st = Dynamic(m, &own); !st.ok()) return st;
      if (type_url.empty()) {
        *out += own;
        return absl::OkStatus();
      }
      auto typed = go::MarshalObjectWithType(own, type_url);
      if (!typed.ok()) return typed.status();
      *out += *typed;
      return absl::OkStatus();
    }
    const pb::Reflection& r = *m.GetReflection();
    const std::string& name = d->full_name();
    if (name == "google.protobuf.Any") return PbAny(m, indent, out);
    if (IsWrapper(d)) return PbSingular(Slot{m, d->FindFieldByNumber(1), -1}, indent, out);
    if (name == "google.protobuf.Duration" || name == "google.protobuf.Timestamp") {
      constexpr int64_t kSecond = 1000000000;
      const int64_t s = r.GetInt64(m, d->FindFieldByNumber(1));
      const int64_t ns = r.GetInt32(m, d->FindFieldByNumber(2));
      if (name == "google.protobuf.Duration") {
        if (ns <= -kSecond || ns >= kSecond) {
          return absl::InvalidArgumentError("ns out of range (-1000000000, 1000000000)");
        }
        if ((s > 0 && ns < 0) || (s < 0 && ns > 0)) {
          return absl::InvalidArgumentError("signs of seconds and nanos do not match");
        }
        const bool neg = s < 0 || ns < 0;
        char buf[64];
        std::snprintf(buf, sizeof buf, "%s%lld.%09lld", neg ? "-" : "", static_cast<long long>(neg ? -s : s),
                      static_cast<long long>(neg ? -ns : ns));
        absl::StrAppend(out, "\"", TrimNanos(buf), "s\"");
        return absl::OkStatus();
      }
      if (ns < 0 || ns >= kSecond) return absl::InvalidArgumentError("ns out of range [0, 1000000000)");
      const absl::CivilSecond c = absl::ToCivilSecond(absl::FromUnixSeconds(s), absl::UTCTimeZone());
      char buf[96];
      std::snprintf(buf, sizeof buf, "%04lld-%02d-%02dT%02d:%02d:%02d.%09lld", static_cast<long long>(c.year()),
                    c.month(), c.day(), c.hour(), c.minute(), c.second(), static_cast<long long>(ns));
      absl::StrAppend(out, "\"", TrimNanos(buf), "Z\"");
      return absl::OkStatus();
    }
    if (name == "google.protobuf.Value") {
      const FD* kind = r.GetOneofFieldDescriptor(m, d->oneof_decl(0));
      if (kind == nullptr) return absl::InvalidArgumentError("nil Value");
      return PbValue(m, kind, indent, out);
    }
    if (name == "google.protobuf.Struct" || name == "google.protobuf.ListValue") {
      return PbValue(m, d->FindFieldByNumber(1), indent, out);
    }
    // google.protobuf.Empty: a generated message with no fields.
    absl::StrAppend(out, "{\n\n", indent, "}");
    return absl::OkStatus();
  }

  // marshalAny.
  absl::Status PbAny(const pb::Message& m, const std::string& indent, std::string* out) {
    const pb::Descriptor* d = m.GetDescriptor();
    const std::string type_url = m.GetReflection()->GetString(m, d->FindFieldByNumber(1));
    const std::string value = m.GetReflection()->GetString(m, d->FindFieldByNumber(2));
    std::unique_ptr<pb::Message> payload = types_.New(type_url);
    if (payload == nullptr) {
      // grpcurl's unknownAny: marshals itself, so it comes out like a
      // dynamic message inside an Any (compact, keys sorted).
      std::string_view name = type_url;
      if (auto slash = name.rfind('/'); slash != std::string_view::npos) name.remove_prefix(slash + 1);
      absl::StrAppend(
          out, "{\"@error\":",
          go::Quote(absl::StrCat(std::string(name), " is not recognized; see @value for raw binary message data")),
          ",\"@type\":", go::Quote(type_url), ",\"@value\":", go::Quote(absl::Base64Escape(value)), "}");
      return absl::OkStatus();
    }
    if (!payload->ParseFromString(value)) {
      return absl::InvalidArgumentError(absl::StrCat("cannot parse the ", type_url, " in a google.protobuf.Any"));
    }
    if (!IsWellKnown(payload->GetDescriptor())) return PbMessage(*payload, indent, type_url, out);
    absl::StrAppend(out, "{\n", indent, "  \"@type\": ", go::Quote(type_url), ",\n", indent, "  \"value\": ");
    if (auto st = PbMessage(*payload, indent + "  ", "", out); !st.ok()) return st;
    absl::StrAppend(out, "\n", indent, "}");
    return absl::OkStatus();
  }

  // marshalValue: a list, a map or one value.
  absl::Status PbValue(const pb::Message& m, const FD* f, const std::string& indent, std::string* out) {
    if (f->is_map()) {
      out->push_back('{');
      std::string comma;
      for (const pb::Message* e : SortedEntries(m, f)) {
        absl::StrAppend(out, comma, "\n", indent, "    ", go::Quote(KeyOf(*e).Text()), ": ");
        if (auto st = PbSingular(Slot{*e, f->message_type()->map_value(), -1}, indent + "  ", out); !st.ok()) {
          return st;
        }
        comma = ",";
      }
      absl::StrAppend(out, "\n", indent, "  }");
      return absl::OkStatus();
    }
    if (f->is_repeated()) {
      out->push_back('[');
      std::string comma;
      for (int i = 0; i < m.GetReflection()->FieldSize(m, f); ++i) {
        absl::StrAppend(out, comma, "\n", indent, "    ");
        if (auto st = PbSingular(Slot{m, f, i}, indent + "  ", out); !st.ok()) return st;
        comma = ",";
      }
      absl::StrAppend(out, "\n", indent, "  ]");
      return absl::OkStatus();
    }
    return PbSingular(Slot{m, f, -1}, indent, out);
  }

  // marshalSingularValue.
  absl::Status PbSingular(const Slot& s, const std::string& indent, std::string* out) {
    switch (s.f->cpp_type()) {
      case FD::CPPTYPE_MESSAGE:
        return PbMessage(s.Message(), indent + "  ", "", out);
      case FD::CPPTYPE_ENUM: {
        if (s.f->enum_type()->full_name() == "google.protobuf.NullValue") {
          *out += "null";
          break;
        }
        const pb::EnumValueDescriptor* v = s.f->enum_type()->FindValueByNumber(s.Enum());
        *out += v ? absl::StrCat("\"", v->name(), "\"") : absl::StrCat(s.Enum());
        break;
      }
      case FD::CPPTYPE_DOUBLE:
      case FD::CPPTYPE_FLOAT: {
        const bool is32 = s.f->cpp_type() == FD::CPPTYPE_FLOAT;
        const double v = is32 ? s.Float() : s.Double();
        if (std::isinf(v)) {
          *out += v > 0 ? "\"Infinity\"" : "\"-Infinity\"";
        } else if (std::isnan(v)) {
          *out += "\"NaN\"";
        } else {
          *out += go::JsonFloat(v, is32 ? 32 : 64);
        }
        break;
      }
      case FD::CPPTYPE_INT64:
        absl::StrAppend(out, "\"", s.Int64(), "\"");
        break;
      case FD::CPPTYPE_UINT64:
        absl::StrAppend(out, "\"", s.UInt64(), "\"");
        break;
      case FD::CPPTYPE_INT32:
        absl::StrAppend(out, s.Int32());
        break;
      case FD::CPPTYPE_UINT32:
        absl::StrAppend(out, s.UInt32());
        break;
      case FD::CPPTYPE_BOOL:
        *out += s.Bool() ? "true" : "false";
        break;
      case FD::CPPTYPE_STRING:
        *out += go::Quote(s.f->type() == FD::TYPE_BYTES ? absl::Base64Escape(s.String()) : s.String());
        break;
    }
    return absl::OkStatus();
  }

  AnyTypes& types_;
  const FormatOptions& options_;
};

}  // namespace

std::unique_ptr<pb::Message> GeneratedAnyTypes::New(std::string_view type_url) {
  std::string_view name = type_url;
  if (auto slash = name.rfind('/'); slash != std::string_view::npos) name.remove_prefix(slash + 1);
  const pb::Descriptor* d = pb::DescriptorPool::generated_pool()->FindMessageTypeByName(std::string(name));
  if (d == nullptr) return nullptr;
  const pb::Message* prototype = pb::MessageFactory::generated_factory()->GetPrototype(d);
  return prototype ? std::unique_ptr<pb::Message>(prototype->New()) : nullptr;
}

absl::StatusOr<std::string> GrpcurlFormat::Message(const pb::Message& m) const {
  return Writer(types_, options_).Marshal(m);
}

std::string GrpcurlFormat::CodeName(int code) {
  static constexpr const char* kNames[] = {
      "OK",       "Canceled",       "Unknown",          "InvalidArgument",   "DeadlineExceeded",
      "NotFound", "AlreadyExists",  "PermissionDenied", "ResourceExhausted", "FailedPrecondition",
      "Aborted",  "OutOfRange",     "Unimplemented",    "Internal",          "Unavailable",
      "DataLoss", "Unauthenticated"};
  if (code >= 0 && code <= 16) return kNames[code];
  return absl::StrCat("Code(", code, ")");
}

std::string GrpcurlFormat::Status(const google::rpc::Status& status) const {
  std::string out = absl::StrCat("ERROR:\n  Code: ", CodeName(status.code()), "\n  Message: ", status.message(), "\n");
  if (status.details_size() == 0) return out;
  out += "  Details:\n";
  for (int i = 0; i < status.details_size(); ++i) {
    const std::string prefix = absl::StrCat("  ", i + 1, ")");
    absl::StrAppend(&out, prefix, "\t");
    auto text = Message(status.details(i));
    if (!text.ok()) {
      absl::StrAppend(&out, "Error parsing detail message: ", text.status().message(), "\n");
      continue;
    }
    const std::string continuation = std::string(prefix.size(), ' ') + "\t";
    bool first = true;
    for (absl::string_view line : absl::StrSplit(*text, '\n')) {
      absl::StrAppend(&out, first ? "" : continuation, line, "\n");
      first = false;
    }
  }
  return out;
}

}  // namespace cantdo::grpcurl
