// cantdo-grpcurl: the subset of grpcurl's command line that operating
// cantdo needs, for machines where grpcurl itself is not installed. The
// same command lines work with grpcurl, and print the same:
//
//   cantdo-grpcurl -cacert ca.pem -cert operator.pem -key operator.key localhost:8443 list
//   cantdo-grpcurl ... localhost:8443 describe cantdo.gateway.v1.WorkflowService
//   cantdo-grpcurl ... -d '{"workflow_id":"..."}' localhost:8443 cantdo.gateway.v1.WorkflowService/GetWorkflow
//
// Flags: -cacert, -cert, -key, -servername, -authority, -H 'name: value'
// (repeatable), -d JSON ('@' reads standard input), -max-time SECONDS,
// -emit-defaults. There is no -plaintext: cantdo serves TLS only.
// Responses (stdout) and a failed call's status (stderr) are printed as
// grpcurl v1.8.7 prints them (grpcurl/grpcurl_format.hpp); exit codes are
// grpcurl's: 0 ok, 2 usage, 1 any other failure outside the call (TLS
// files, reflection, request JSON), 64 + the gRPC code when the call fails.
// `list` and `describe` print what grpcurl prints in substance, not byte
// for byte (describe shows protobuf's DebugString of the descriptor).

#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/type_resolver.h>
#include <google/protobuf/util/type_resolver_util.h>

#include <algorithm>
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

// Exit codes as grpcurl's: 2 for a usage problem, 1 for any other failure
// before or outside the call, 64 + the gRPC code when the call fails.
constexpr int kUsage = 2;
constexpr int kFailed = 1;
constexpr int kStatusCodeOffset = 64;

int Usage(const std::string& problem) {
  std::cerr << problem << "\n"
            << "Try 'cantdo-grpcurl -help' for more details.\n"
            << "usage: cantdo-grpcurl [-cacert F] [-cert F -key F] [-servername N] [-H 'k: v']...\n"
            << "                      [-d JSON|@] [-max-time S] [-emit-defaults] ADDRESS\n"
            << "                      (list [SERVICE] | describe SYMBOL | SERVICE/METHOD)\n";
  return kUsage;
}

// grpcurl's fail(err, ...): the message, ": ", the error.
int Fail(const std::string& what, const absl::Status& st) {
  std::cerr << what << ": " << st.ToString() << "\n";
  return kFailed;
}

bool ReadFile(const std::string& path, std::string* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  out->assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  return true;
}

// The status as grpc-go gives it to grpcurl: from the
// grpc-status-details-bin trailer when there is one, else from grpc-status
// and grpc-message.
google::rpc::Status StatusOf(const grpc::Status& st) {
  google::rpc::Status out;
  if (st.error_details().empty() || !out.ParseFromString(st.error_details())) {
    out.Clear();
    out.set_code(static_cast<int>(st.error_code()));
    out.set_message(st.error_message());
  }
  return out;
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
    if (arg == "-help" || arg == "--help") {
      Usage("cantdo-grpcurl: grpcurl's command line for cantdo");
      return 0;
    }
    if (arg == "-cacert" || arg == "--cacert") {
      if (!value(&a.cacert)) return Usage("-cacert needs a file");
    } else if (arg == "-cert" || arg == "--cert") {
      if (!value(&a.cert)) return Usage("-cert needs a file");
    } else if (arg == "-key" || arg == "--key") {
      if (!value(&a.key)) return Usage("-key needs a file");
    } else if (arg == "-servername" || arg == "-authority") {
      if (!value(&a.servername)) return Usage(arg + " needs a name");
    } else if (arg == "-d") {
      if (!value(&a.data)) return Usage("-d needs JSON or @");
      a.has_data = true;
    } else if (arg == "-emit-defaults") {
      a.emit_defaults = true;
    } else if (arg == "-H" || arg == "-rpc-header") {
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
  if (a.positional.size() < 2) return Usage("Too few arguments.");
  if (a.cacert.empty()) return Usage("-cacert is required (cantdo serves TLS only)");
  cantdo::grpc::TlsMaterial tls;
  if (!ReadFile(a.cacert, &tls.ca_pem))
    return Fail("Failed to create TLS config", absl::NotFoundError("cannot read " + a.cacert));
  if (a.cert.empty() != a.key.empty())
    return Usage("The -cert and -key arguments must be used together and both be present.");
  if (!a.cert.empty() && (!ReadFile(a.cert, &tls.cert_pem) || !ReadFile(a.key, &tls.key_pem))) {
    return Fail("Failed to create TLS config", absl::NotFoundError("cannot read " + a.cert + " or " + a.key));
  }
  const std::string& address = a.positional[0];
  auto channel = tls.cert_pem.empty() ? cantdo::grpc::MakeTlsChannel(address, tls.ca_pem, a.servername)
                                      : cantdo::grpc::MakeMtlsChannel(address, tls, a.servername);
  cantdo::grpcurl::ReflectionClient reflection(channel, a.call);
  const std::string& verb = a.positional[1];

  if (verb == "list") {
    if (a.positional.size() > 3) return Usage("Too many arguments.");
    std::vector<std::string> names;
    if (a.positional.size() == 2) {
      auto services = reflection.ListServices();
      if (!services.ok()) return Fail("Failed to list services", services.status());
      names = *services;
    } else {
      const std::string& service = a.positional[2];
      const pb::ServiceDescriptor* sd = nullptr;
      if (auto st = reflection.Load(service); st.ok()) sd = reflection.pool().FindServiceByName(service);
      if (sd == nullptr) {
        return Fail("Failed to list methods for service \"" + service + "\"",
                    absl::NotFoundError("Service not found: " + service));
      }
      for (int i = 0; i < sd->method_count(); ++i) names.push_back(sd->method(i)->full_name());
    }
    std::sort(names.begin(), names.end());  // as grpcurl lists them
    for (const auto& n : names) std::cout << n << "\n";
    return 0;
  }
  if (verb == "describe") {
    if (a.positional.size() != 3) return Usage("describe needs one symbol");
    std::string symbol = a.positional[2];
    const auto& pool = reflection.pool();
    auto not_found = [&](const absl::Status& st) { return Fail("Failed to resolve symbol \"" + symbol + "\"", st); };
    if (auto st = reflection.Load(symbol); !st.ok()) return not_found(st);
    if (const auto* s = pool.FindServiceByName(symbol)) {
      std::cout << symbol << " is a service:\n" << s->DebugString();
    } else if (const auto* m = pool.FindMessageTypeByName(symbol)) {
      std::cout << symbol << " is a message:\n" << m->DebugString();
    } else if (const auto* e = pool.FindEnumTypeByName(symbol)) {
      std::cout << symbol << " is an enum:\n" << e->DebugString();
    } else if (const auto* md = pool.FindMethodByName(symbol)) {
      std::cout << symbol << " is a method:\n" << md->DebugString();
    } else {
      return not_found(absl::NotFoundError("Symbol not found: " + symbol));
    }
    return 0;
  }

  // Invoke SERVICE/METHOD or SERVICE.METHOD.
  if (a.positional.size() > 2) return Usage("Too many arguments.");
  auto invoke_failed = [&](const absl::Status& st) { return Fail("Error invoking method \"" + verb + "\"", st); };
  std::string service = verb, method_name;
  if (auto slash = verb.rfind('/'); slash != std::string::npos) {
    service = verb.substr(0, slash);
    method_name = verb.substr(slash + 1);
  } else if (auto dot = verb.rfind('.'); dot != std::string::npos) {
    service = verb.substr(0, dot);
    method_name = verb.substr(dot + 1);
  }
  if (auto st = reflection.Load(service); !st.ok()) return invoke_failed(st);
  const pb::ServiceDescriptor* sd = reflection.pool().FindServiceByName(service);
  const pb::MethodDescriptor* md = sd ? sd->FindMethodByName(method_name) : nullptr;
  if (!md)
    return invoke_failed(
        absl::NotFoundError("service \"" + service + "\" does not include a method named \"" + method_name + "\""));

  std::string data = a.has_data ? a.data : "{}";
  if (data == "@") data.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  // Any fields name their type by URL; the resolver fetches types the
  // server knows but the method does not import (as grpcurl does). Both
  // proto field names and lowerCamelCase names are accepted, as by grpcurl.
  LazyTypeResolver resolver(reflection);
  std::string request;
  pb::util::JsonParseOptions parse_options;
  if (auto st = pb::util::JsonToBinaryString(&resolver, TypeUrl(md->input_type()->full_name()), data, &request,
                                             parse_options);
      !st.ok()) {
    return invoke_failed(absl::InvalidArgumentError("error getting request data: " + st.ToString()));
  }
  cantdo::grpcurl::ReflectionAnyTypes any_types(reflection);
  const cantdo::grpcurl::GrpcurlFormat format(any_types, {.emit_defaults = a.emit_defaults});
  int responses = 0;
  grpc::Status st = cantdo::grpcurl::GenericCall(
      channel, absl::StrCat("/", sd->full_name(), "/", md->name()), {request}, a.call, [&](const std::string& bytes) {
        ++responses;
        std::unique_ptr<pb::Message> response(reflection.factory().GetPrototype(md->output_type())->New());
        absl::StatusOr<std::string> text = response->ParseFromString(bytes)
                                               ? format.Message(*response)
                                               : absl::InvalidArgumentError("unparsable response");
        if (text.ok()) {
          std::cout << *text << "\n" << std::flush;
        } else {
          std::cout << "Failed to format response message " << responses << ": " << text.status().message() << "\n";
        }
        return true;
      });
  if (!st.ok()) {
    const google::rpc::Status status = StatusOf(st);
    std::cerr << format.Status(status);
    return kStatusCodeOffset + status.code();
  }
  return 0;
}
