// cantdo-grpcurl: the subset of grpcurl's command line that operating
// cantdo needs, for machines where grpcurl itself is not installed. The
// same command lines work with grpcurl:
//
//   cantdo-grpcurl -cacert ca.pem -cert operator.pem -key operator.key localhost:8443 list
//   cantdo-grpcurl ... localhost:8443 describe cantdo.gateway.v1.WorkflowService
//   cantdo-grpcurl ... -d '{"workflowId":"..."}' localhost:8443 cantdo.gateway.v1.WorkflowService/GetWorkflow
//
// Flags: -cacert, -cert, -key, -servername, -authority, -H 'name: value'
// (repeatable), -d JSON ('@' reads standard input), -max-time SECONDS,
// -emit-defaults. There is no -plaintext: cantdo serves TLS only.
// Exit codes as grpcurl: 0 ok, 1 usage or connection problem, 64+code for an
// RPC error.

#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/type_resolver.h>
#include <google/protobuf/util/type_resolver_util.h>

#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "cantdo/grpc/tls.hpp"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "grpcurl/reflection_client.hpp"

namespace pb = google::protobuf;

namespace {

struct Args {
  std::string cacert, cert, key, servername, data;
  bool has_data = false, emit_defaults = false;
  cantdo::grpcurl::CallOptions call;
  std::vector<std::string> positional;
};

int Usage(const std::string& problem) {
  std::cerr << "cantdo-grpcurl: " << problem << "\n"
            << "usage: cantdo-grpcurl [-cacert F] [-cert F -key F] [-servername N] [-H 'k: v']...\n"
            << "                      [-d JSON|@] [-max-time S] [-emit-defaults] ADDRESS\n"
            << "                      (list [SERVICE] | describe SYMBOL | SERVICE/METHOD)\n";
  return 1;
}

bool ReadFile(const std::string& path, std::string* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  out->assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  return true;
}

int PrintRpcError(const grpc::Status& st) {
  static const char* kNames[] = {"OK", "Canceled", "Unknown", "InvalidArgument", "DeadlineExceeded",
                                 "NotFound", "AlreadyExists", "PermissionDenied", "ResourceExhausted",
                                 "FailedPrecondition", "Aborted", "OutOfRange", "Unimplemented",
                                 "Internal", "Unavailable", "DataLoss", "Unauthenticated"};
  int code = static_cast<int>(st.error_code());
  std::cerr << "ERROR:\n  Code: " << (code >= 0 && code <= 16 ? kNames[code] : "Unknown")
            << "\n  Message: " << st.error_message() << "\n";
  google::rpc::Status details;
  if (!st.error_details().empty() && details.ParseFromString(st.error_details()) &&
      details.details_size() > 0) {
    std::cerr << "  Details:\n";
    int i = 1;
    for (const auto& any : details.details()) {
      google::rpc::ErrorInfo info;
      std::string json;
      pb::util::JsonPrintOptions o;
      o.add_whitespace = true;
      if (any.UnpackTo(&info)) {
        (void)pb::util::MessageToJsonString(info, &json, o);
        std::cerr << "  " << i++ << ")\t{\"@type\": \"" << any.type_url() << "\"}\n" << json;
      } else {
        std::cerr << "  " << i++ << ")\t" << any.type_url() << "\n";
      }
    }
  }
  return 64 + code;
}

}  // namespace

namespace {

// Resolves type URLs against the server's descriptors, fetching by
// reflection the file of any type not loaded yet (Any payloads).
class LazyTypeResolver final : public pb::util::TypeResolver {
 public:
  explicit LazyTypeResolver(cantdo::grpcurl::ReflectionClient& reflection)
      : reflection_(reflection),
        inner_(pb::util::NewTypeResolverForDescriptorPool("type.googleapis.com", &reflection.pool())) {}
  pb::util::Status ResolveMessageType(const std::string& url, pb::Type* type) override {
    Fetch(url);
    return inner_->ResolveMessageType(url, type);
  }
  pb::util::Status ResolveEnumType(const std::string& url, pb::Enum* type) override {
    Fetch(url);
    return inner_->ResolveEnumType(url, type);
  }

 private:
  void Fetch(const std::string& url) {
    const std::string name = url.substr(url.rfind('/') + 1);
    const auto& pool = reflection_.pool();
    if (pool.FindMessageTypeByName(name) == nullptr && pool.FindEnumTypeByName(name) == nullptr) {
      (void)reflection_.Load(name);  // unknown to the server too: the parse reports it
    }
  }
  cantdo::grpcurl::ReflectionClient& reflection_;
  std::unique_ptr<pb::util::TypeResolver> inner_;
};

std::string TypeUrl(const std::string& full_name) { return "type.googleapis.com/" + full_name; }

}  // namespace

int main(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&](std::string* out) {
      if (i + 1 >= argc) return false;
      *out = argv[++i];
      return true;
    };
    std::string v;
    if (arg == "-cacert" || arg == "--cacert") { if (!value(&a.cacert)) return Usage("-cacert needs a file"); }
    else if (arg == "-cert" || arg == "--cert") { if (!value(&a.cert)) return Usage("-cert needs a file"); }
    else if (arg == "-key" || arg == "--key") { if (!value(&a.key)) return Usage("-key needs a file"); }
    else if (arg == "-servername" || arg == "-authority") { if (!value(&a.servername)) return Usage(arg + " needs a name"); }
    else if (arg == "-d") { if (!value(&a.data)) return Usage("-d needs JSON or @"); a.has_data = true; }
    else if (arg == "-emit-defaults") { a.emit_defaults = true; }
    else if (arg == "-H" || arg == "-rpc-header") {
      if (!value(&v)) return Usage("-H needs 'name: value'");
      auto colon = v.find(':');
      if (colon == std::string::npos) return Usage("-H needs 'name: value'");
      a.call.metadata.emplace(absl::AsciiStrToLower(v.substr(0, colon)),
                              std::string(absl::StripLeadingAsciiWhitespace(v.substr(colon + 1))));
    } else if (arg == "-max-time") {
      double s = 0;
      if (!value(&v) || !absl::SimpleAtod(v, &s)) return Usage("-max-time needs seconds");
      a.call.timeout = absl::Seconds(s);
    } else if (arg == "-plaintext") {
      return Usage("cantdo serves TLS only; use -cacert (and -cert/-key)");
    } else if (!arg.empty() && arg[0] == '-') {
      return Usage("unknown flag " + arg);
    } else {
      a.positional.push_back(arg);
    }
  }
  if (a.positional.size() < 2) return Usage("need ADDRESS and a verb or method");
  if (a.cacert.empty()) return Usage("-cacert is required (cantdo serves TLS only)");
  cantdo::grpc::TlsMaterial tls;
  if (!ReadFile(a.cacert, &tls.ca_pem)) return Usage("cannot read " + a.cacert);
  if (!a.cert.empty() && (!ReadFile(a.cert, &tls.cert_pem) || !ReadFile(a.key, &tls.key_pem))) {
    return Usage("cannot read -cert/-key");
  }
  const std::string& address = a.positional[0];
  auto channel = tls.cert_pem.empty() ? cantdo::grpc::MakeTlsChannel(address, tls.ca_pem, a.servername)
                                      : cantdo::grpc::MakeMtlsChannel(address, tls, a.servername);
  cantdo::grpcurl::ReflectionClient reflection(channel, a.call);
  const std::string& verb = a.positional[1];

  auto fail = [](const absl::Status& st) {
    return PrintRpcError(grpc::Status(static_cast<grpc::StatusCode>(st.code()), std::string(st.message())));
  };

  if (verb == "list") {
    if (a.positional.size() == 2) {
      auto services = reflection.ListServices();
      if (!services.ok()) return fail(services.status());
      for (const auto& s : *services) std::cout << s << "\n";
      return 0;
    }
    const std::string& service = a.positional[2];
    if (auto st = reflection.Load(service); !st.ok()) return fail(st);
    const pb::ServiceDescriptor* sd = reflection.pool().FindServiceByName(service);
    if (!sd) return Usage(service + " is not a service");
    for (int i = 0; i < sd->method_count(); ++i) std::cout << sd->method(i)->full_name() << "\n";
    return 0;
  }
  if (verb == "describe") {
    if (a.positional.size() < 3) return Usage("describe needs a symbol");
    std::string symbol = a.positional[2];
    if (auto st = reflection.Load(symbol); !st.ok()) return fail(st);
    const auto& pool = reflection.pool();
    if (const auto* s = pool.FindServiceByName(symbol)) {
      std::cout << symbol << " is a service:\n" << s->DebugString();
    } else if (const auto* m = pool.FindMessageTypeByName(symbol)) {
      std::cout << symbol << " is a message:\n" << m->DebugString();
    } else if (const auto* e = pool.FindEnumTypeByName(symbol)) {
      std::cout << symbol << " is an enum:\n" << e->DebugString();
    } else if (const auto* md = pool.FindMethodByName(symbol)) {
      std::cout << symbol << " is a method:\n" << md->DebugString();
    } else {
      return Usage("symbol not found: " + symbol);
    }
    return 0;
  }

  // Invoke SERVICE/METHOD or SERVICE.METHOD.
  std::string service = verb, method_name;
  if (auto slash = verb.rfind('/'); slash != std::string::npos) {
    service = verb.substr(0, slash);
    method_name = verb.substr(slash + 1);
  } else if (auto dot = verb.rfind('.'); dot != std::string::npos) {
    service = verb.substr(0, dot);
    method_name = verb.substr(dot + 1);
  }
  if (auto st = reflection.Load(service); !st.ok()) return fail(st);
  const pb::ServiceDescriptor* sd = reflection.pool().FindServiceByName(service);
  const pb::MethodDescriptor* md = sd ? sd->FindMethodByName(method_name) : nullptr;
  if (!md) return Usage("no such method: " + verb);

  std::string data = a.has_data ? a.data : "{}";
  if (data == "@") data.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  // Any fields name their type by URL; the resolver fetches types the
  // server knows but the method does not import (as grpcurl does).
  LazyTypeResolver resolver(reflection);
  std::string request;
  pb::util::JsonParseOptions parse_options;
  if (auto st = pb::util::JsonToBinaryString(&resolver, TypeUrl(md->input_type()->full_name()), data, &request,
                                             parse_options);
      !st.ok()) {
    return Usage("bad request JSON for " + md->input_type()->full_name() + ": " + st.ToString());
  }
  pb::util::JsonPrintOptions print;
  print.add_whitespace = true;
  print.always_print_primitive_fields = a.emit_defaults;
  const std::string out_url = TypeUrl(md->output_type()->full_name());
  grpc::Status st = cantdo::grpcurl::GenericCall(
      channel, absl::StrCat("/", sd->full_name(), "/", md->name()), {request}, a.call,
      [&](const std::string& bytes) {
        std::string json;
        if (auto printed = pb::util::BinaryToJsonString(&resolver, out_url, bytes, &json, print); !printed.ok()) {
          std::cerr << "cantdo-grpcurl: cannot print the response as JSON: " << printed.ToString() << "\n";
          return false;
        }
        std::cout << json << std::flush;
        return true;
      });
  if (!st.ok()) return PrintRpcError(st);
  return 0;
}
