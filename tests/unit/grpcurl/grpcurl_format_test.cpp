// cantdo-grpcurl prints what grpcurl v1.8.7 prints. Each expected text
// below is grpcurl's output for the same message, worked out from its
// source and that of the libraries it formats with (grpcurl format.go and
// cmd/grpcurl/grpcurl.go at v1.8.7: jsonpb.Marshaler{Indent: "  "} and
// fmt.Fprintln per response, PrintStatus for errors; jhump/protoreflect
// v1.12 dynamic/json.go and indent.go; golang/protobuf v1.5 jsonpb/encode.go;
// Go 1.19 encoding/json), for descriptors as a C++ server's reflection
// serves them (no json_name: fields are printed by their proto names).

#include <catch2/catch.hpp>

#include <google/protobuf/util/time_util.h>

#include "cantdo/common/v1/authorization.pb.h"
#include "cantdo/gateway/v1/authorization_service.pb.h"
#include "cantdo/gateway/v1/workflow_service.pb.h"
#include "cantdo/offboarding/v1/offboarding.pb.h"
#include "google/protobuf/wrappers.pb.h"
#include "google/rpc/error_details.pb.h"
#include "grpc/health/v1/health.pb.h"
#include "grpcurl/grpcurl_format.hpp"

namespace {

namespace pb = google::protobuf;
namespace gv1 = cantdo::gateway::v1;
using cantdo::grpcurl::GeneratedAnyTypes;
using cantdo::grpcurl::GrpcurlFormat;

std::string Print(const pb::Message& m, bool emit_defaults = false) {
  GeneratedAnyTypes types;
  auto text = GrpcurlFormat(types, {.emit_defaults = emit_defaults}).Message(m);
  INFO(text.status().ToString());
  REQUIRE(text.ok());
  return *text;
}

std::string PrintStatus(const google::rpc::Status& st) {
  GeneratedAnyTypes types;
  return GrpcurlFormat(types, {}).Status(st);
}

pb::Timestamp At(int64_t seconds, int32_t nanos = 0) {
  pb::Timestamp t;
  t.set_seconds(seconds);
  t.set_nanos(nanos);
  return t;
}

constexpr int64_t kMay1Noon2024 = 1714564800;  // 2024-05-01T12:00:00Z

}  // namespace

TEST_CASE("a response is printed as grpcurl prints it: proto field names, its indentation", "[unit][grpcurl]") {
  gv1::RequestAuthorizationResponse r;
  r.set_decision(cantdo::common::v1::DECISION_REQUIRE_APPROVAL);
  auto* a = r.mutable_approval();
  a->set_approval_id("apr_1");
  a->set_state(cantdo::common::v1::APPROVAL_STATE_PENDING);
  a->set_state_message("waits for <cfo> & co");
  a->mutable_action()->set_action("refund.issue");
  a->mutable_action()->set_workflow_id("ticket-7");
  a->mutable_action()->set_step("refund");
  auto& params = *a->mutable_action()->mutable_parameters()->mutable_fields();
  params["customer_id"].set_string_value("cus_42");
  params["amount_cents"].set_number_value(1200);
  a->set_parameters_hash("ab");
  a->set_requester("user:https://crm.example#alice");
  a->set_approvals_required(1);
  a->set_binding_message("Refund 1200 cents to cus_42 #K3Q7");
  *a->mutable_create_time() = At(kMay1Noon2024, 500000000);
  a->set_binding_code("K3Q7");

  // Fields in number order; a Struct is laid out by jsonpb, one level deeper
  // than the field it belongs to (entries and closing brace alike).
  CHECK(Print(r) ==
        "{\n"
        "  \"decision\": \"DECISION_REQUIRE_APPROVAL\",\n"
        "  \"approval\": {\n"
        "    \"approval_id\": \"apr_1\",\n"
        "    \"state\": \"APPROVAL_STATE_PENDING\",\n"
        "    \"state_message\": \"waits for \\u003ccfo\\u003e \\u0026 co\",\n"
        "    \"action\": {\n"
        "      \"action\": \"refund.issue\",\n"
        "      \"parameters\": {\n"
        "          \"amount_cents\": 1200,\n"
        "          \"customer_id\": \"cus_42\"\n"
        "        },\n"
        "      \"workflow_id\": \"ticket-7\",\n"
        "      \"step\": \"refund\"\n"
        "    },\n"
        "    \"parameters_hash\": \"ab\",\n"
        "    \"requester\": \"user:https://crm.example#alice\",\n"
        "    \"approvals_required\": 1,\n"
        "    \"binding_message\": \"Refund 1200 cents to cus_42 #K3Q7\",\n"
        "    \"create_time\": \"2024-05-01T12:00:00.500Z\",\n"
        "    \"binding_code\": \"K3Q7\"\n"
        "  }\n"
        "}");
}

TEST_CASE("a stream's events print one after the other, an Any as jsonpb writes it", "[unit][grpcurl]") {
  gv1::WatchWorkflowResponse started;
  started.set_run_id("r1");
  auto* e = started.mutable_event();
  e->set_event_id(1);
  *e->mutable_event_time() = At(kMay1Noon2024);
  e->set_event_type(cantdo::workflow::v1::EVENT_TYPE_WORKFLOW_EXECUTION_STARTED);
  auto* s = e->mutable_workflow_execution_started();
  s->set_workflow_type("customer_offboarding");
  s->set_task_queue("offboarding");
  cantdo::offboarding::v1::OffboardingInput in;
  in.set_reason("contract ended");
  in.set_customer_id("cus_000042");
  s->mutable_input()->PackFrom(in);
  (*s->mutable_parameters()->mutable_fields())["customer_id"].set_string_value("cus_000042");
  s->mutable_execution_timeout()->set_seconds(90);

  // 64-bit integers as strings; an Any of a message that is not a
  // well-known type on one compact line, keys sorted, "@type" first.
  CHECK(Print(started) ==
        "{\n"
        "  \"run_id\": \"r1\",\n"
        "  \"event\": {\n"
        "    \"event_id\": \"1\",\n"
        "    \"event_time\": \"2024-05-01T12:00:00Z\",\n"
        "    \"event_type\": \"EVENT_TYPE_WORKFLOW_EXECUTION_STARTED\",\n"
        "    \"workflow_execution_started\": {\n"
        "      \"workflow_type\": \"customer_offboarding\",\n"
        "      \"task_queue\": \"offboarding\",\n"
        "      \"input\": {\"@type\":\"type.googleapis.com/cantdo.offboarding.v1.OffboardingInput\","
        "\"customer_id\":\"cus_000042\",\"reason\":\"contract ended\"},\n"
        "      \"parameters\": {\n"
        "          \"customer_id\": \"cus_000042\"\n"
        "        },\n"
        "      \"execution_timeout\": \"90s\"\n"
        "    }\n"
        "  }\n"
        "}");

  gv1::WatchWorkflowResponse signal;
  signal.set_run_id("r1");
  e = signal.mutable_event();
  e->set_event_id(2);
  *e->mutable_event_time() = At(kMay1Noon2024 + 1, 250000000);
  e->set_event_type(cantdo::workflow::v1::EVENT_TYPE_SIGNAL_RECEIVED);
  auto* sig = e->mutable_signal_received();
  sig->set_signal_name("note");
  sig->set_signal_id("note-1");
  pb::StringValue hello;
  hello.set_value("hello <b>");
  sig->mutable_payload()->PackFrom(hello);
  sig->set_identity("cert:spiffe://cantdo/operator");

  // An Any of a well-known type: "@type" and "value", indented.
  CHECK(Print(signal) ==
        "{\n"
        "  \"run_id\": \"r1\",\n"
        "  \"event\": {\n"
        "    \"event_id\": \"2\",\n"
        "    \"event_time\": \"2024-05-01T12:00:01.250Z\",\n"
        "    \"event_type\": \"EVENT_TYPE_SIGNAL_RECEIVED\",\n"
        "    \"signal_received\": {\n"
        "      \"signal_name\": \"note\",\n"
        "      \"signal_id\": \"note-1\",\n"
        "      \"payload\": {\n"
        "        \"@type\": \"type.googleapis.com/google.protobuf.StringValue\",\n"
        "        \"value\": \"hello \\u003cb\\u003e\"\n"
        "      },\n"
        "      \"identity\": \"cert:spiffe://cantdo/operator\"\n"
        "    }\n"
        "  }\n"
        "}");
}

TEST_CASE("nested Struct values keep jsonpb's layout", "[unit][grpcurl]") {
  cantdo::common::v1::ActionRef a;
  auto& f = *a.mutable_parameters()->mutable_fields();
  auto* list = f["a"].mutable_list_value();
  list->add_values()->set_number_value(1);
  list->add_values()->set_string_value("x");
  (*f["b"].mutable_struct_value()->mutable_fields())["c"].set_bool_value(true);
  f["n"].set_null_value(pb::NULL_VALUE);
  f["z"].set_number_value(1e21);

  CHECK(Print(a) ==
        "{\n"
        "  \"parameters\": {\n"
        "      \"a\": [\n"
        "            1,\n"
        "            \"x\"\n"
        "          ],\n"
        "      \"b\": {\n"
        "            \"c\": true\n"
        "          },\n"
        "      \"n\": null,\n"
        "      \"z\": 1e+21\n"
        "    }\n"
        "}");
}

TEST_CASE("empty messages open a line, and -emit-defaults prints zero values", "[unit][grpcurl]") {
  grpc::health::v1::HealthCheckResponse unknown;  // status UNKNOWN (0): nothing on the wire
  CHECK(Print(unknown) == "{\n  \n}");
  CHECK(Print(unknown, /*emit_defaults=*/true) == "{\n  \"status\": \"UNKNOWN\"\n}");

  grpc::health::v1::HealthCheckResponse serving;
  serving.set_status(grpc::health::v1::HealthCheckResponse::SERVING);
  CHECK(Print(serving) == "{\n  \"status\": \"SERVING\"\n}");

  // Unset messages are null, empty lists open a line, unset oneof members
  // stay out.
  gv1::ConsumeGrantResponse consumed;
  consumed.mutable_grant()->set_grant_id("grt_1");
  const std::string text = Print(consumed, /*emit_defaults=*/true);
  CHECK(text.find("\n    \"grant_id\": \"grt_1\",\n    \"state\": \"GRANT_STATE_UNSPECIFIED\",\n") !=
        std::string::npos);
  CHECK(text.find("\n    \"approver_subjects\": [\n      \n    ],\n") != std::string::npos);
  CHECK(text.find("\n    \"issue_time\": null,\n") != std::string::npos);
}

TEST_CASE("a failed call prints grpcurl's ERROR block with the ErrorInfo on one line", "[unit][grpcurl]") {
  google::rpc::Status st;
  st.set_code(7);
  st.set_message("grant grt_1 is bound to refund.issue");
  google::rpc::ErrorInfo info;
  info.set_reason("GRANT_ACTION_MISMATCH");
  info.set_domain("cantdo.dev");
  (*info.mutable_metadata())["grant_id"] = "grt_1";
  (*info.mutable_metadata())["presented"] = "customer_data.delete";
  (*info.mutable_metadata())["bound"] = "refund.issue";
  st.add_details()->PackFrom(info);

  CHECK(PrintStatus(st) ==
        "ERROR:\n"
        "  Code: PermissionDenied\n"
        "  Message: grant grt_1 is bound to refund.issue\n"
        "  Details:\n"
        "  1)\t{\"@type\":\"type.googleapis.com/google.rpc.ErrorInfo\",\"domain\":\"cantdo.dev\","
        "\"metadata\":{\"bound\":\"refund.issue\",\"grant_id\":\"grt_1\",\"presented\":\"customer_data.delete\"},"
        "\"reason\":\"GRANT_ACTION_MISMATCH\"}\n");

  // A detail of a well-known type spans lines: continuation lines are
  // indented as wide as "  2)", then a tab. A type nobody knows is shown
  // as base64.
  pb::Int64Value retry_after;
  retry_after.set_value(30);
  st.add_details()->PackFrom(retry_after);
  st.add_details()->set_type_url("type.googleapis.com/acme.Unknown");
  st.mutable_details(2)->set_value("\x08\x01");
  const std::string text = PrintStatus(st);
  CHECK(text.substr(text.find("  2)")) ==
        "  2)\t{\n"
        "    \t  \"@type\": \"type.googleapis.com/google.protobuf.Int64Value\",\n"
        "    \t  \"value\": \"30\"\n"
        "    \t}\n"
        "  3)\t{\"@error\":\"acme.Unknown is not recognized; see @value for raw binary message data\","
        "\"@type\":\"type.googleapis.com/acme.Unknown\",\"@value\":\"CAE=\"}\n");
}

TEST_CASE("a status without details, and code names as Go spells them", "[unit][grpcurl]") {
  google::rpc::Status st;
  st.set_code(5);
  st.set_message("workflow offboard-x not found");
  CHECK(PrintStatus(st) == "ERROR:\n  Code: NotFound\n  Message: workflow offboard-x not found\n");
  CHECK(GrpcurlFormat::CodeName(1) == "Canceled");
  CHECK(GrpcurlFormat::CodeName(4) == "DeadlineExceeded");
  CHECK(GrpcurlFormat::CodeName(16) == "Unauthenticated");
  CHECK(GrpcurlFormat::CodeName(17) == "Code(17)");
}

TEST_CASE("values jsonpb refuses fail the formatting instead of printing something else", "[unit][grpcurl]") {
  GeneratedAnyTypes types;
  const GrpcurlFormat format(types, {});
  cantdo::common::v1::Approval a;
  a.mutable_create_time()->set_nanos(-1);
  CHECK_FALSE(format.Message(a).ok());
  cantdo::common::v1::ActionRef r;
  (*r.mutable_parameters()->mutable_fields())["k"];  // a Value with no kind
  CHECK_FALSE(format.Message(r).ok());
}
