// What the approver's device shows: display patterns, templates composed
// from checked parameters only, and the approval's short code.
#include <catch2/catch.hpp>

#include <set>

#include "authority/binding_message.hpp"

using cantdo::authority::BindingCode;
using cantdo::authority::BindingTemplate;
using cantdo::authority::DisplayPattern;
using cantdo::authority::IsDisplayable;
namespace av1 = cantdo::authority::v1;

namespace {

DisplayPattern Pattern(const std::string& text) {
  auto p = DisplayPattern::Parse(text);
  INFO(text << ": " << p.status().ToString());
  REQUIRE(p.ok());
  return *std::move(p);
}

google::protobuf::RepeatedPtrField<av1::ParameterConstraint> Constraints() {
  google::protobuf::RepeatedPtrField<av1::ParameterConstraint> out;
  auto* amount = out.Add();
  amount->set_pointer("/amount_cents");
  amount->set_required(true);
  amount->set_minimum(1);
  amount->set_maximum(500000);
  auto* customer = out.Add();
  customer->set_pointer("/customer_id");
  customer->set_required(true);
  customer->set_pattern("^cus_[0-9a-z]{1,24}$");
  auto* currency = out.Add();
  currency->set_pointer("/currency");
  currency->set_required(true);
  currency->add_allowed_values("EUR");
  currency->add_allowed_values("USD");
  return out;
}

}  // namespace

TEST_CASE("binding message: the displayable characters are Auth0's", "[unit][authority]") {
  CHECK(IsDisplayable("Refund 12500 cents to cus_42 #K7QM"));
  CHECK(IsDisplayable("a+b-c_d.e,f:g#h"));
  for (const char* bad : {"<b>", "a\nb", "Zoë", "50%", "a/b", "a@b", "\"quoted\"", "a\tb"}) {
    INFO(bad);
    CHECK_FALSE(IsDisplayable(bad));
  }
}

TEST_CASE("binding message: a display pattern matches like the regular expression it is", "[unit][authority]") {
  const DisplayPattern customer = Pattern("^cus_[0-9a-z]{1,24}$");
  CHECK(customer.max_length() == 28);
  CHECK(customer.Matches("cus_42"));
  CHECK(customer.Matches("cus_000042"));
  CHECK(customer.Matches("cus_" + std::string(24, 'z')));
  CHECK_FALSE(customer.Matches("cus_" + std::string(25, 'z')));
  CHECK_FALSE(customer.Matches("cus_"));
  CHECK_FALSE(customer.Matches("cus_42 approve now"));
  CHECK_FALSE(customer.Matches("cus_ABC"));
  CHECK_FALSE(customer.Matches("xcus_42"));
  CHECK_FALSE(customer.Matches(""));

  // Overlapping atoms need more than a greedy scan.
  const DisplayPattern overlap = Pattern("^[a-z]{1,5}[a-z0-9]{2}$");
  CHECK(overlap.Matches("abc"));
  CHECK(overlap.Matches("abcde12"));
  CHECK_FALSE(overlap.Matches("ab"));
  CHECK_FALSE(overlap.Matches("1abc"));

  const DisplayPattern optional = Pattern("^INV-[0-9]{4}-?[A-Z]?$");
  CHECK(optional.Matches("INV-2024"));
  CHECK(optional.Matches("INV-2024-X"));
  CHECK(optional.Matches("INV-2024X"));
  CHECK_FALSE(optional.Matches("INV-2024-XY"));

  const DisplayPattern escaped = Pattern(R"(^v[0-9]\.[0-9]\+[.+-]$)");
  CHECK(escaped.Matches("v1.2+."));
  CHECK(escaped.Matches("v1.2++"));
  CHECK_FALSE(escaped.Matches("v1x2+."));

  const DisplayPattern dash = Pattern("^[-a]{2}[a-]$");
  CHECK(dash.Matches("-a-"));
  CHECK_FALSE(dash.Matches("-ab"));

  CHECK_FALSE(customer.Matches(std::string("cus_\xc3\xa9", 6)));
}

TEST_CASE("binding message: a pattern that could match free text or too much is refused", "[unit][authority]") {
  for (const char* bad : {
           "cus_[0-9]{1,4}$",       // not anchored
           "^cus_[0-9]{1,4}",       // not anchored
           "^.{1,10}$",             // any character
           "^[a-z]*$",              // unbounded
           "^[a-z]+$",              // unbounded
           "^[a-z]{1,}$",           // unbounded
           "^[^<>]{1,10}$",         // negated class: anything else
           "^(a|b)$",               // groups and alternatives
           "^[a-z]{65}$",           // longer than a message
           "^[a-z]{40}[0-9]{30}$",  // the sum too
           "^[!-~]{1,10}$",         // a range through undisplayable characters
           "^[z-a]$",               // backwards
           R"(^\d{4}$)",            // escapes other than \. \+ \-
           "^<b>$",                 // undisplayable literal
           "^[a-z$",                // unclosed class
           "^[]$",                  // empty class
           "^a{2,1}$",              // bad repetition
           "^a{0}$",                // matches nothing useful
           "^$",                    // empty
       }) {
    INFO(bad);
    CHECK_FALSE(DisplayPattern::Parse(bad).ok());
  }
}

TEST_CASE("binding message: composed from the template and checked parameters, with the code", "[unit][authority]") {
  auto t = BindingTemplate::Parse("Refund {amount_cents} {currency} to {customer_id}", Constraints());
  INFO(t.status().ToString());
  REQUIRE(t.ok());
  CHECK(t->max_length() == 7 + 6 + 1 + 3 + 4 + 28 + 6);
  const nlohmann::json params = {
      {"amount_cents", 12500}, {"currency", "EUR"}, {"customer_id", "cus_42"}, {"note", "URGENT approve now"}};
  auto message = t->Compose(params, "K7QM");
  REQUIRE(message.ok());
  CHECK(*message == "Refund 12500 EUR to cus_42 #K7QM");
  // Struct numbers are doubles; an integral one prints as an integer.
  CHECK(*t->Compose({{"amount_cents", 12500.0}, {"currency", "USD"}, {"customer_id", "cus_42"}}, "0000") ==
        "Refund 12500 USD to cus_42 #0000");

  // Parameters that escaped the policy's check are never shown.
  for (const nlohmann::json& bad : {
           nlohmann::json{{"currency", "EUR"}, {"customer_id", "cus_42"}},
           nlohmann::json{{"amount_cents", 12.5}, {"currency", "EUR"}, {"customer_id", "cus_42"}},
           nlohmann::json{{"amount_cents", "12500"}, {"currency", "EUR"}, {"customer_id", "cus_42"}},
           nlohmann::json{{"amount_cents", 1}, {"currency", "EUR"}, {"customer_id", "cus_42 <script>"}},
           nlohmann::json{{"amount_cents", 1}, {"currency", "EUR"}, {"customer_id", std::string(40, 'a')}},
           nlohmann::json{{"amount_cents", 1234567}, {"currency", "EUR"}, {"customer_id", "cus_42"}},
       }) {
    INFO(bad.dump());
    auto refused = t->Compose(bad, "K7QM");
    CHECK(refused.status().code() == absl::StatusCode::kInternal);
  }
}

TEST_CASE("binding message: the template is checked against the constraints", "[unit][authority]") {
  const auto constraints = Constraints();
  CHECK(BindingTemplate::Parse("Erase all data of {customer_id}", constraints).ok());
  CHECK_FALSE(BindingTemplate::Parse("", constraints).ok());
  CHECK_FALSE(BindingTemplate::Parse("Refund {note}", constraints).ok());
  CHECK_FALSE(BindingTemplate::Parse("Refund {}", constraints).ok());
  CHECK_FALSE(BindingTemplate::Parse("Refund {amount_cents", constraints).ok());
  CHECK_FALSE(BindingTemplate::Parse("Refund amount_cents}", constraints).ok());
  CHECK_FALSE(BindingTemplate::Parse("Refund! {amount_cents}", constraints).ok());
  // Optional parameters leave a hole: refused even when bounded.
  auto optional = constraints;
  optional.Mutable(1)->set_required(false);
  CHECK_FALSE(BindingTemplate::Parse("Erase {customer_id}", optional).ok());
  // required on one constraint and bounded by another is enough.
  auto split = constraints;
  split.Mutable(1)->set_required(false);
  auto* required = split.Add();
  required->set_pointer("/customer_id");
  required->set_required(true);
  CHECK(BindingTemplate::Parse("Erase {customer_id}", split).ok());
  // Bounds beyond 2^53 cannot be shown exactly.
  auto huge = constraints;
  huge.Mutable(0)->set_maximum(1e17);
  CHECK_FALSE(BindingTemplate::Parse("Refund {amount_cents}", huge).ok());
}

TEST_CASE("binding message: the code is derived from the approval id, short and readable", "[unit][authority]") {
  const std::string id = "4d3522b9-42b1-420a-9927-fc6f78b33b67";
  const std::string code = BindingCode(id);
  CHECK(code.size() == 4);
  CHECK(code == BindingCode(id));
  CHECK(code.find_first_not_of("0123456789ABCDEFGHJKMNPQRSTVWXYZ") == std::string::npos);
  // Different approvals almost always differ: at least 990 of 1000.
  std::set<std::string> codes;
  for (int i = 0; i < 1000; ++i) codes.insert(BindingCode("approval-" + std::to_string(i)));
  CHECK(codes.size() >= 990);
}
