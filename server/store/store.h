// Store: where Tollgate keeps its durable state. One interface; the two backends (SQLite by
// default, PostgreSQL when DATABASE_URL is set) differ only in their SqlConnection and schema
// dialect, so every rule below holds identically on both. Handlers never see SQL.
//
// Implementations are thread-safe. Every call that cannot reach the database returns
// kStoreUnavailable so callers fail closed.
//
// The ledger: every credit change is an append-only entry, and an account's balance always equals
// the sum of its entries. All changes go through apply(), which runs a batch of commands in one
// transaction, deciding each in order (group commit).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "tollgate/core/result.h"

namespace tollgate::server {

// ---- Projects and keys ---------------------------------------------------------------------

// A plan an end user subscribes to. Its allowance is monthly_credits a month: each paid period
// resets the allowance to monthly_credits × the months the period spans (1, or 12 a year).
struct Plan {
  std::string name;
  int64_t monthly_credits = 0;
  int64_t price_micros = 0;        // per interval, in micros of `currency`
  std::string currency = "usd";    // ISO 4217, lower case
  std::string interval = "month";  // month or year
};

// A one-off purchase of credits, added to the purchased pool.
struct CreditPack {
  std::string id;  // chosen by the project: "starter"
  std::string name;
  int64_t credits = 0;
  int64_t price_micros = 0;  // in micros of `currency`
  std::string currency = "usd";
};

struct ProjectSettings {
  bool secure_metering = false;  // when on, only the secret key may meter
  std::vector<Plan> plans;       // "free" is always a valid plan, listed or not
  std::vector<CreditPack> credit_packs;
  int64_t starting_credits = 0;  // granted to each end user on first sight
  int64_t low_balance_threshold = 0;
  std::optional<int64_t> budget_micros;      // the project's monthly spend cap across all users
  bool allow_browser_minting = false;        // the publishable key may mint runtime sessions…
  std::vector<std::string> allowed_origins;  // …from these browser origins only
};

struct Project {
  std::string id;
  std::string name;
  bool demo = false;
  ProjectSettings settings;
  int64_t created_at_ms = 0;
  // Set once the instance admin revoked the project: none of its keys or runtime tokens work
  // any more; its data stays.
  std::optional<int64_t> revoked_at_ms;
};

enum class KeyKind { kPublishable, kSecret };

// A stored API key: only its SHA-256 (hex) is kept, plus the last characters as a hint.
struct KeyRecord {
  std::string id;
  std::string project_id;
  KeyKind kind = KeyKind::kSecret;
  std::string hash;
  std::string hint;
  // Set once the key was rolled: it works until this time (Unix ms), and not from then on.
  std::optional<int64_t> expires_at_ms;
  int64_t created_at_ms = 0;
};

// Idempotency for a mutating command: `scope` is the API key's id, `key` the client's
// Idempotency-Key and `request_hash` a digest of the request. Kept kIdempotencyRetentionMs.
struct Idempotency {
  std::string scope;
  std::string key;
  std::string request_hash;
};

inline constexpr int64_t kIdempotencyRetentionMs = int64_t{24} * 60 * 60 * 1000;

// A stored Idempotency-Key record: the digest of the request it answered and the answer.
struct IdempotencyRecord {
  std::string request_hash;
  std::string outcome;
  int64_t created_at_ms = 0;
};

// At most this many keys of one kind may be in their grace period (rolled, not yet stopped) at
// once, so repeated rolls with a long grace cannot pile up live keys.
inline constexpr int64_t kKeysInGraceMax = 4;

// Rolls a project's key of `kind`: `new_key` becomes the current key, and the current one stops
// at `old_key_expires_at_ms` (now, or after a grace period). A key still in its grace period from
// an earlier roll keeps its own expiry unless this one is sooner: a roll never lengthens a key's
// life, so rolling with no grace stops every older key of the kind at once.
//
// Only the current secret key may roll (`rolled_by`): a key in its grace period is usually one
// that leaked, and must not be able to make itself new keys. With `idempotency`, a retry (the
// same scope, key and request hash) answers `answer` as stored instead of rolling again, and a
// different request with the same key is kConflict; the record is written in the same
// transaction as the roll.
struct KeyRoll {
  std::string project_id;
  KeyKind kind = KeyKind::kSecret;
  std::string rolled_by;  // the id of the key that sent the roll
  KeyRecord new_key;
  int64_t now_ms = 0;
  int64_t old_key_expires_at_ms = 0;  // >= now_ms
  std::optional<Idempotency> idempotency;
  std::string answer;  // stored with the idempotency record, for replays
};

struct RolledKeys {
  bool replayed = false;  // answered from the idempotency record; nothing changed
  std::string answer;     // the stored answer, when replayed
  // The keys whose expiry this roll set or brought forward (to drop from caches).
  std::vector<KeyRecord> changed;
};

// ---- User keys -----------------------------------------------------------------------------

// A user key ("tgk_…"): a long-lived key of one end user, for the OpenAI- and Anthropic-
// compatible routes, with a spend cap per period and a model allow-list. Only the secret's
// SHA-256 (hex) is kept, and its first characters (`start`) to tell keys apart.
//
// Its spend counters live on its row and change only through the ledger (a hold names its key),
// so reserving against the key's cap is part of the one reservation across every budget level.
enum class CapPeriod { kDay, kWeek, kMonth, kTotal };
std::string_view cap_period_name(CapPeriod period);  // "day", "week", "month", "total"
std::optional<CapPeriod> parse_cap_period(std::string_view name);

// A key's spend in its current cap period (a "total" period starts at 0 and never rolls).
struct KeySpend {
  int64_t period_start_ms = 0;
  int64_t period_spent_micros = 0;
  int64_t period_credit_micros = 0;  // raised by credits, for this period only
  int64_t held_micros = 0;           // reserved by calls in flight
  int64_t lifetime_micros = 0;       // everything ever charged
};

struct UserKey {
  std::string id;  // "key_…"
  std::string project_id;
  std::string user_id;
  std::string name;
  std::string hash;   // the current secret's SHA-256
  std::string start;  // "tgk_" and the first characters of the secret
  // After a roll with a grace period: the previous secret's SHA-256, working until then.
  std::string previous_hash;
  std::optional<int64_t> previous_expires_at_ms;
  std::optional<int64_t> spend_cap_micros;  // none: no cap of the key's own
  CapPeriod cap_period = CapPeriod::kMonth;
  std::vector<std::string> models;  // allow-list: "openai/gpt-4o-mini", "anthropic/*"; empty: any
  std::string metadata = "{}";      // a JSON object of the project's own
  std::optional<int64_t> expires_at_ms;
  std::optional<int64_t> revoked_at_ms;
  KeySpend spend;
  int64_t created_at_ms = 0;
  int64_t updated_at_ms = 0;
};

// What a key may still spend this period: the cap plus the period's credits, less what is
// spent and held; nullopt when it has no cap. Never negative.
std::optional<int64_t> key_remaining_micros(const UserKey& key);

// A roll: the key gets `hash` and `start`; the old secret works until `previous_expires_at_ms`
// (now: it stops at once). A roll during another's grace period ends that one.
struct UserKeyRoll {
  std::string project_id;
  std::string key_id;
  std::string hash;
  std::string start;
  int64_t previous_expires_at_ms = 0;
  int64_t now_ms = 0;
};

// A window of gateway usage: the holds of calls made with a user key that were not released
// (a released hold ran nothing).
enum class UsageGroup { kKey, kUser, kModel, kDay };
struct UsageQuery {
  int64_t from_ms = 0;
  int64_t to_ms = 0;  // exclusive
  std::optional<std::string> user_id;
  std::optional<std::string> key_id;
  std::optional<std::string> model;
  std::vector<UsageGroup> group_by;  // none: one total
  bool models_only = false;  // leave out feature calls (tollgate/<slug>), priced by the feature
};
inline constexpr size_t kUsageGroupsMax = 10'000;  // rows one usage query answers at most

// ---- Accounts and the ledger ---------------------------------------------------------------

// An account's credits are in two pools, spent allowance first:
//   allowance  the plan's credits for the current paid period; reset (not added to) each period
//   purchased  credit packs and grants; never expire
// balance = allowance + purchased, and each pool equals the sum of its own ledger entries.
enum class Pool { kAllowance, kPurchased };
std::string_view pool_name(Pool pool);  // "allowance", "purchased"
std::optional<Pool> parse_pool(std::string_view name);

struct Account {
  std::string project_id;
  std::string user_id;
  std::string plan = "free";
  int64_t balance = 0;  // allowance + purchased
  int64_t allowance = 0;
  int64_t purchased = 0;
  std::optional<int64_t> spend_cap_micros;
  int64_t period_start_ms = 0;  // start of the current calendar month (UTC)
  int64_t period_spent_micros = 0;
  int64_t held_micros = 0;
  int64_t created_at_ms = 0;
  int64_t updated_at_ms = 0;
  bool exists = true;  // false for a user never seen: a view of what first sight would create
};

struct LedgerEntry {
  int64_t seq = 0;  // increasing; exposed as "le_<seq>" and used as the pagination cursor
  std::string project_id;
  std::string user_id;
  // grant, purchase, debit, hold, settle, release, refund, allowance, clawback
  std::string kind;
  Pool pool = Pool::kPurchased;  // the pool the entry changes
  int64_t amount = 0;            // signed change to the pool (and so to the balance)
  int64_t balance_after = 0;     // the whole balance after it
  std::string event;             // debit: the metered event
  std::string reason;            // grant/refund: why
  std::string hold_id;
  int64_t created_at_ms = 0;
};

// The public id of a ledger entry, "le_<seq>", and back (nullopt for anything else).
std::string entry_id(int64_t seq);
std::optional<int64_t> parse_entry_id(std::string_view id);

struct Hold {
  std::string id;
  std::string project_id;
  std::string user_id;
  int64_t credits = 0;
  int64_t allowance_credits = 0;  // of `credits`, those taken from the allowance
  int64_t micros = 0;
  std::string status;  // open, settled, released, expired
  int64_t expires_at_ms = 0;
  std::string operation;    // the AI feature the hold pays for; "" for none
  std::string key_id = {};  // the user key whose cap it counts against; "" for none
  std::string model = {};   // "provider/model" of the call; "" for none
};

// Commands. Each carries its project and is decided in the order given.
struct MeterCommand {
  std::string project_id;
  std::string user_id;
  std::string event;
  int64_t cost = 1;
};

// Adds to the purchased pool. With `once`, a permanent mark (see Marks below): a command whose
// mark is already set changes nothing and is answered as replayed.
struct CreditCommand {
  std::string project_id;
  std::string user_id;
  std::string kind;    // grant, refund or purchase
  int64_t amount = 0;  // > 0
  std::string reason;
  std::optional<std::string> once;
};

// Marks: permanent keys in the ledger's own transaction, unique per project, never purged. A
// billing fact (a checkout session, an invoice, a refund) takes effect once because its command
// sets a mark; a mark also carries a value, for clawbacks' progress.

// Sets the allowance pool to `credits` (an "allowance" entry of the difference): each paid
// period resets it. With `plan`, also sets the account's plan. With `once`, see CreditCommand.
struct AllowanceCommand {
  std::string project_id;
  std::string user_id;
  int64_t credits = 0;  // >= 0
  std::optional<std::string> plan;
  std::string reason;
  std::optional<std::string> once;
};

// Takes back purchased credits up to `target`, the total the mark `progress` should have taken
// by now (a refund's share, cumulative): only what `target` exceeds the mark's value by is
// taken, so a repeated or an older refund takes nothing more. Never below zero: what the pool
// lacks is the outcome's `shortfall`. The mark keeps `target`.
struct ClawbackCommand {
  std::string project_id;
  std::string user_id;
  std::string progress;  // the mark
  int64_t target = 0;    // >= 0
  std::string reason;
};

struct UpdateAccountCommand {
  std::string project_id;
  std::string user_id;
  std::optional<std::string> plan;
  std::optional<std::optional<int64_t>> spend_cap_micros;  // set, or clear with nullopt inside
};

// Reserves credits and micros across every budget level at once: the account's balance, the
// account's spend cap and the project's budget. Nothing is reserved unless all of them allow it.
//
// A hold for an AI feature names it (`operation`) and may carry invocation limits. A limit
// counts the feature's holds created at or after `since_ms` that were not released (a released
// hold ran nothing), for this end user or for the whole feature; the reservation is refused
// with kRateLimited (param = the limit's name) when the count has reached `max`. Counting and
// reserving happen in one transaction with the project's row locked, so concurrent calls never
// pass a limit together.
struct InvocationLimit {
  std::string name;  // the setting, for the error: "perUserDailyLimit"
  bool per_user = false;
  int64_t since_ms = 0;
  int64_t max = 0;
};

// A reservation against a user key's cap: the key must belong to the reserving end user, work at
// the batch's time (not revoked, not expired), and have `micros` left in its period, which
// starts at `period_start_ms` (the caller's clock decides the period; a later start rolls the
// key's counters over).
struct KeyBudget {
  std::string key_id;
  int64_t period_start_ms = 0;
};

struct ReserveCommand {
  std::string project_id;
  std::string user_id;
  std::string hold_id;  // chosen by the caller ("hold_…")
  int64_t credits = 0;
  int64_t micros = 0;
  int64_t ttl_ms = 0;
  std::string operation;  // optional: the AI feature this call runs
  std::vector<InvocationLimit> limits;
  std::optional<KeyBudget> key = {};  // optional: the user key the call came with
  std::string model = {};             // optional: "provider/model", for usage reports
};

// Charges the actual amounts (at most what was reserved) and returns the rest. The token
// counts are recorded on the hold for usage reports.
struct SettleCommand {
  std::string project_id;
  std::string hold_id;
  int64_t credits = 0;
  int64_t micros = 0;
  int64_t input_tokens = 0;
  int64_t output_tokens = 0;
  std::string model = {};  // the model that answered, when not the one reserved for; "" keeps it
};

struct ReleaseCommand {
  std::string project_id;
  std::string hold_id;
};

// Raises a user key's cap for its current period (starting at `period_start_ms`, as in
// KeyBudget) by `micros`, recorded as an entry of the key's own (key_credits).
struct KeyCreditCommand {
  std::string project_id;
  std::string key_id;
  int64_t micros = 0;  // > 0
  std::string reason;
  int64_t period_start_ms = 0;
};

// Settles every open hold past its expiry at its reserved amount: a call whose outcome was lost
// (a crash mid-call) is charged what it reserved, never $0 and never left pending.
struct ExpireHoldsCommand {};

using LedgerCommandBody =
    std::variant<MeterCommand, CreditCommand, UpdateAccountCommand, ReserveCommand, SettleCommand,
                 ReleaseCommand, ExpireHoldsCommand, AllowanceCommand, ClawbackCommand,
                 KeyCreditCommand>;

struct LedgerCommand {
  LedgerCommandBody body;
  std::optional<Idempotency> idempotency;
};

// What a command did. `error` set means it changed nothing (kInsufficientCredits,
// kNotFound, kConflict for an idempotency mismatch, kInvalidArgument for an unknown plan …).
struct LedgerOutcome {
  std::optional<Error> error;
  std::optional<Account> account;  // the account after the command
  int64_t amount = 0;              // meter: cost charged; reserve/settle: credits; expire: holds
  int64_t entry_seq = 0;           // the ledger entry written, if any
  std::string hold_id;
  bool replayed = false;  // answered from the idempotency record, or its mark was already set
  int64_t shortfall = 0;  // clawback: what the purchased pool lacked
  std::optional<KeySpend> key_spend = {};  // reserve with a key, key credit: the key's after it
  // A reservation refused at a spend cap (the key's, the user's or the project's): the micros
  // that cap leaves this period.
  std::optional<int64_t> remaining_micros = {};
};

// Serialized outcome, as stored for idempotent replay.
std::string outcome_to_json(const LedgerOutcome& outcome);
LedgerOutcome outcome_from_json(std::string_view text);

// ---- Reads ---------------------------------------------------------------------------------

// ---- AI features (operations) ---------------------------------------------------------------

// A stored feature definition. The store keeps the definition as JSON text and knows nothing of
// its fields; server/features/ owns their meaning and validation.
struct OperationRecord {
  std::string id;  // "op_…"
  std::string project_id;
  std::string slug;        // unique within the project
  std::string definition;  // JSON object text
  int64_t created_at_ms = 0;
  int64_t updated_at_ms = 0;
};

// A project's credentials for one model provider. The key is stored sealed (SecretBox); the
// store never sees it in the clear.
struct ProviderRecord {
  std::string project_id;
  std::string name;        // "openai", "anthropic", "groq", …
  std::string sealed_key;  // SecretBox::seal output
  std::string key_hint;    // the key's last four characters
  std::string base_url;    // "" for the provider's default
  int64_t created_at_ms = 0;
  int64_t updated_at_ms = 0;
};

// ---- Billing -------------------------------------------------------------------------------

// A project's Stripe keys, sealed (SecretBox); the store never sees them in the clear.
struct StripeAccount {
  std::string project_id;
  std::string sealed_secret_key;
  std::string secret_key_hint;  // the last four characters
  std::string sealed_webhook_secret;
  std::string webhook_secret_hint;
  int64_t created_at_ms = 0;
  int64_t updated_at_ms = 0;
};

// A checkout: a Stripe Checkout Session (id "cs_…") or a simulated one ("chk_…").
struct Checkout {
  std::string id;
  std::string project_id;
  std::string user_id;
  std::string product;       // the pack's id or the plan's name
  std::string product_kind;  // pack or plan
  int64_t credits = 0;       // what fulfilment grants: the pack's, or the plan's allowance
  int64_t price_micros = 0;
  std::string currency;
  bool simulated = false;
  std::string url;
  std::string success_url;
  std::string cancel_url;
  std::string status = "open";            // open, complete, expired
  std::string payment_status = "unpaid";  // Stripe's: paid, unpaid, no_payment_required
  std::string payment_intent;
  std::string subscription_id;
  std::string invoice_id;
  std::optional<int64_t> fulfilled_at_ms;
  int64_t created_at_ms = 0;
  int64_t expires_at_ms = 0;
  int64_t updated_at_ms = 0;
};

// An end user's subscription to a plan, as Stripe last told it (or as a simulated checkout
// made it). `state_at` is the Stripe `created` (Unix s) of the newest event applied: an older
// event never overwrites a newer state.
struct Subscription {
  std::string id;
  std::string project_id;
  std::string user_id;
  std::string customer_id;
  std::string plan;
  std::string status;  // Stripe's: active, trialing, past_due, canceled, unpaid, incomplete, …
  int64_t price_micros = 0;
  std::string currency;
  std::string interval;
  int64_t current_period_end_ms = 0;
  bool cancel_at_period_end = false;
  int64_t state_at = 0;
  int64_t created_at_ms = 0;
  int64_t updated_at_ms = 0;
};

// Statuses in which a subscription still holds its plan (and a second one must not be sold).
bool subscription_live(std::string_view status);

// A Stripe event as received: its id takes effect once.
struct StripeEventRecord {
  std::string project_id;
  std::string event_id;
  std::string type;
  int64_t created = 0;  // Stripe's, Unix s
  std::string outcome;  // what Tollgate did: "granted 500 credits", "ignored: …"
  int64_t received_at_ms = 0;
};

// Money received: a fulfilled purchase (source "cs_…") or a paid invoice ("in_…").
struct RevenueRecord {
  std::string project_id;
  std::string source_id;
  std::string user_id;
  std::string product;
  int64_t amount_micros = 0;
  std::string currency;
  int64_t created_at_ms = 0;
};

// ---- Totals --------------------------------------------------------------------------------

// An exact total of int64 amounts (balances, credits, micros, tokens). Two balances near
// INT64_MAX already sum past int64; 128 bits hold the sum of 2^64 int64 values, so a total is
// never an overflow, an error or a rounded number.
__extension__ typedef __int128 Int128;

// The exact decimal digits of `value`, with a leading '-' when negative.
std::string int128_decimal(Int128 value);
// Parses decimal digits with an optional leading '-', exactly; nullopt for anything else or for
// a value outside Int128.
std::optional<Int128> parse_int128(std::string_view text);

struct Page {
  int64_t limit = 20;
  std::optional<std::string> starting_after;
};

// Counts are int64 (rows); sums of amounts are exact Int128 totals.
// Money in one currency.
struct CurrencyTotal {
  std::string currency;
  Int128 micros = 0;
};

struct RevenueTotal {
  std::string product;
  std::string currency;
  int64_t payments = 0;
  Int128 micros = 0;
};

struct AccountStats {
  int64_t total = 0;
  int64_t paid = 0;                // with a live subscription
  std::vector<CurrencyTotal> mrr;  // live subscriptions' prices, normalised to a month
  Int128 credits_outstanding = 0;  // prepaid credits not yet spent: every balance, summed
  // The purchased credits outstanding, valued at what packs sold for: each currency's share is
  // purchased × (that currency's pack revenue ÷ all pack credits sold), rounded down.
  std::vector<CurrencyTotal> credits_outstanding_value;
};

struct UsagePoint {
  int64_t start_ms = 0;
  int64_t calls = 0;
  Int128 credits = 0;
};

struct EventTotal {
  std::string event;
  int64_t calls = 0;
  Int128 credits = 0;
};

// AI feature calls (holds that name a feature and were not released), summed over a group.
struct InvocationTotal {
  std::string key;  // the feature's slug or the end user's id, by the grouping; "" for none
  int64_t calls = 0;
  Int128 input_tokens = 0;
  Int128 output_tokens = 0;
  Int128 credits = 0;  // charged (settled or expired holds)
  Int128 micros = 0;   // provider cost charged
};

enum class InvocationGroup { kNone, kOperation, kUser };

// Gateway usage summed over the columns the query groups by (the others are empty or 0).
struct UsageTotal {
  std::string key_id;
  std::string user_id;
  std::string model;
  int64_t day_start_ms = 0;
  int64_t requests = 0;
  Int128 input_tokens = 0;
  Int128 output_tokens = 0;
  Int128 credits = 0;
  Int128 micros = 0;
};

struct InvocationQuery {
  std::optional<std::string> user_id;  // one end user's calls only
  int64_t from_ms = 0;
  int64_t to_ms = 0;  // exclusive
  InvocationGroup group = InvocationGroup::kNone;
  int64_t limit = 20;  // groups, the largest spend first
};

struct Analytics {
  std::vector<RevenueTotal> revenue;  // in the window, by product and currency
  std::vector<UsagePoint> series;
  std::vector<EventTotal> top_events;
  AccountStats stats;
  std::vector<InvocationTotal> top_features;
  std::vector<InvocationTotal> top_end_users;
};

// The ledger checked against its rules: every balance equals the sum of its entries and none is
// negative. `mismatched` lists the users breaking either rule (empty when all is well).
struct LedgerAudit {
  int64_t accounts = 0;
  int64_t entries = 0;
  int64_t open_holds = 0;
  std::vector<std::string> mismatched;
};

// ---- The store -----------------------------------------------------------------------------

class Store {
 public:
  virtual ~Store() = default;

  // "sqlite" or "postgres"; reported by /healthz.
  virtual std::string_view kind() const = 0;
  virtual Result<int64_t> schema_version() = 0;
  // A round trip to the database; kStoreUnavailable when it does not answer.
  virtual Result<void> ping() = 0;

  // Instance settings (e.g. the admin token's hash). put_setting_if_absent returns the value
  // now stored, which is the existing one when another process set it first.
  virtual Result<std::optional<std::string>> get_setting(std::string_view name) = 0;
  virtual Result<std::string> put_setting_if_absent(std::string_view name,
                                                    std::string_view value) = 0;
  // Compare-and-set: stores `value` only while the setting still holds `expected`; false when
  // it did not (another process changed it first), and then nothing is written.
  virtual Result<bool> replace_setting(std::string_view name, std::string_view expected,
                                       std::string_view value) = 0;

  virtual Result<void> create_project(const Project& project, std::span<const KeyRecord> keys) = 0;
  virtual Result<std::optional<Project>> get_project(std::string_view id) = 0;
  virtual Result<std::optional<Project>> demo_project() = 0;
  // Reads the settings under a write lock, lets `patch` change them and stores the result, in
  // one transaction, so concurrent patches never undo each other. A failed patch writes
  // nothing and its error is returned; kNotFound for an unknown project.
  using SettingsPatch = std::function<Result<void>(ProjectSettings&)>;
  virtual Result<Project> patch_project_settings(std::string_view id,
                                                 const SettingsPatch& patch) = 0;
  // The key with this hash, with its expiry if it was rolled (an expired key is returned too,
  // so the caller can say why it no longer works).
  virtual Result<std::optional<KeyRecord>> find_key(std::string_view hash) = 0;
  // The project's working keys: the current one of each kind, then those rolled but still in
  // their grace period at `now_ms`, newest first.
  virtual Result<std::vector<KeyRecord>> list_keys(std::string_view project_id, int64_t now_ms) = 0;
  // See KeyRoll. kNotFound for an unknown project, kUnauthenticated for a revoked one,
  // kForbidden when `rolled_by` is not the current secret key, kConflict for an idempotency
  // mismatch or when kKeysInGraceMax keys of the kind would be in their grace period.
  virtual Result<RolledKeys> roll_key(const KeyRoll& roll) = 0;
  // Marks the project revoked at `now_ms` and returns it; revoking again keeps the first time.
  // Nothing is deleted. kNotFound for an unknown project.
  virtual Result<Project> revoke_project(std::string_view id, int64_t now_ms) = 0;
  // The Idempotency-Key record for (scope, key) younger than kIdempotencyRetentionMs, if any.
  virtual Result<std::optional<IdempotencyRecord>> find_idempotency(std::string_view scope,
                                                                    std::string_view key,
                                                                    int64_t now_ms) = 0;

  // Features. create_operation: kConflict when the project already has the slug.
  virtual Result<void> create_operation(const OperationRecord& operation) = 0;
  virtual Result<std::optional<OperationRecord>> get_operation(std::string_view project_id,
                                                               std::string_view slug) = 0;
  // In slug order, after page.starting_after (a slug), at most page.limit.
  virtual Result<std::vector<OperationRecord>> list_operations(std::string_view project_id,
                                                               const Page& page) = 0;
  // Reads the definition under a write lock, lets `patch` change it (not the slug) and stores
  // the result with updated_at_ms = now_ms, in one transaction. kNotFound for an unknown slug; a
  // failed patch writes nothing and its error is returned.
  using OperationPatch = std::function<Result<void>(OperationRecord&)>;
  virtual Result<OperationRecord> patch_operation(std::string_view project_id,
                                                  std::string_view slug, int64_t now_ms,
                                                  const OperationPatch& patch) = 0;
  // False when there was no such feature.
  virtual Result<bool> delete_operation(std::string_view project_id, std::string_view slug) = 0;

  // Provider credentials. put_provider inserts or replaces (keeping created_at_ms) and returns
  // the stored record.
  virtual Result<ProviderRecord> put_provider(const ProviderRecord& provider) = 0;
  virtual Result<std::optional<ProviderRecord>> get_provider(std::string_view project_id,
                                                             std::string_view name) = 0;
  virtual Result<std::vector<ProviderRecord>> list_providers(std::string_view project_id) = 0;
  virtual Result<bool> delete_provider(std::string_view project_id, std::string_view name) = 0;

  // Billing. Stripe keys: put inserts or replaces (keeping created_at_ms).
  virtual Result<void> put_stripe_account(const StripeAccount& account) = 0;
  virtual Result<std::optional<StripeAccount>> get_stripe_account(std::string_view project_id) = 0;
  virtual Result<bool> delete_stripe_account(std::string_view project_id) = 0;
  // The end user's Stripe Customer. put_customer keeps the first one stored and returns it.
  virtual Result<std::optional<std::string>> find_customer(std::string_view project_id,
                                                           std::string_view user_id) = 0;
  virtual Result<std::string> put_customer(std::string_view project_id, std::string_view user_id,
                                           std::string_view customer_id, int64_t now_ms) = 0;
  virtual Result<std::optional<std::string>> user_of_customer(std::string_view project_id,
                                                              std::string_view customer_id) = 0;
  // Checkouts: put inserts or replaces the whole row.
  virtual Result<void> put_checkout(const Checkout& checkout) = 0;
  virtual Result<std::optional<Checkout>> get_checkout(std::string_view project_id,
                                                       std::string_view id) = 0;
  // By id alone, for the simulated pages, which the end user opens without a key.
  virtual Result<std::optional<Checkout>> get_checkout_by_id(std::string_view id) = 0;
  virtual Result<std::optional<Checkout>> checkout_by_payment_intent(
      std::string_view project_id, std::string_view payment_intent) = 0;
  // Stores the subscription unless the stored one has a newer state_at; false when it did not.
  virtual Result<bool> put_subscription(const Subscription& subscription) = 0;
  virtual Result<std::optional<Subscription>> get_subscription(std::string_view project_id,
                                                               std::string_view id) = 0;
  // The user's newest subscription, live or not.
  virtual Result<std::optional<Subscription>> latest_subscription(std::string_view project_id,
                                                                  std::string_view user_id) = 0;
  // Records an event; false when its id was already recorded (nothing is changed then).
  virtual Result<bool> record_stripe_event(const StripeEventRecord& event) = 0;
  virtual Result<std::optional<StripeEventRecord>> find_stripe_event(std::string_view project_id,
                                                                     std::string_view event_id) = 0;
  // Newest first; starting_after is an event id.
  virtual Result<std::vector<StripeEventRecord>> list_stripe_events(std::string_view project_id,
                                                                    const Page& page) = 0;
  // Records money received once per source (a repeat is ignored).
  virtual Result<void> add_revenue(const RevenueRecord& revenue) = 0;
  virtual Result<std::vector<RevenueTotal>> revenue_totals(std::string_view project_id,
                                                           int64_t from_ms, int64_t to_ms) = 0;

  // User keys. create: kConflict when the hash is taken. get: by id within the project.
  // find_user_key: by the current or the previous secret's hash (the caller checks expiries).
  // patch: under a write lock, as patch_project_settings; only the descriptive fields and the
  // cap (a cap change applies to the period under way). revoke: the first time is kept.
  // roll: see UserKeyRoll; kNotFound for an unknown key, kConflict for a revoked one.
  virtual Result<void> create_user_key(const UserKey& key) = 0;
  virtual Result<std::optional<UserKey>> get_user_key(std::string_view project_id,
                                                      std::string_view id) = 0;
  virtual Result<std::optional<UserKey>> find_user_key(std::string_view hash) = 0;
  // In id order after page.starting_after; one end user's when `user_id`.
  virtual Result<std::vector<UserKey>> list_user_keys(std::string_view project_id,
                                                      const std::optional<std::string>& user_id,
                                                      const Page& page) = 0;
  using UserKeyPatch = std::function<Result<void>(UserKey&)>;
  virtual Result<UserKey> patch_user_key(std::string_view project_id, std::string_view id,
                                         int64_t now_ms, const UserKeyPatch& patch) = 0;
  virtual Result<UserKey> revoke_user_key(std::string_view project_id, std::string_view id,
                                          int64_t now_ms) = 0;
  virtual Result<UserKey> roll_user_key(const UserKeyRoll& roll) = 0;
  // Gateway usage in a window, largest spend first, at most kUsageGroupsMax groups.
  virtual Result<std::vector<UsageTotal>> usage_totals(std::string_view project_id,
                                                       const UsageQuery& query) = 0;

  // Runs the commands in one transaction, in order; outcomes match commands one to one. An
  // error here (store down) means nothing was applied.
  //
  // `decided`, when given, gets the outcomes once every command is decided (its rows locked),
  // before the commit makes them durable, at most once. They are tentative: when the commit then
  // fails, apply() returns the error (or, after a retry, the outcomes that were committed).
  using Decided = std::function<void(const std::vector<LedgerOutcome>&)>;
  virtual Result<std::vector<LedgerOutcome>> apply(std::span<const LedgerCommand> commands,
                                                   int64_t now_ms, const Decided& decided) = 0;
  Result<std::vector<LedgerOutcome>> apply(std::span<const LedgerCommand> commands,
                                           int64_t now_ms) {
    return apply(commands, now_ms, Decided());
  }

  // An account as stored, or as first sight would create it (exists=false).
  virtual Result<Account> get_account(std::string_view project_id, std::string_view user_id,
                                      int64_t now_ms) = 0;
  virtual Result<std::vector<Account>> list_accounts(std::string_view project_id,
                                                     const Page& page) = 0;
  virtual Result<AccountStats> account_stats(std::string_view project_id) = 0;
  // Newest first; starting_after is an entry id ("le_<seq>").
  virtual Result<std::vector<LedgerEntry>> list_ledger(std::string_view project_id,
                                                       std::optional<std::string> user_id,
                                                       const Page& page) = 0;
  virtual Result<std::optional<Hold>> get_hold(std::string_view project_id,
                                               std::string_view hold_id) = 0;
  virtual Result<std::vector<InvocationTotal>> invocation_totals(std::string_view project_id,
                                                                 const InvocationQuery& query) = 0;
  virtual Result<Analytics> analytics(std::string_view project_id, int64_t from_ms, int64_t to_ms,
                                      int64_t interval_ms) = 0;

  virtual Result<LedgerAudit> audit(std::string_view project_id) = 0;

  // Deletes idempotency records older than kIdempotencyRetentionMs.
  virtual Result<int64_t> purge_idempotency(int64_t now_ms) = 0;
};

struct StoreOptions {
  std::string data_dir;      // SQLite: the database lives at <data_dir>/tollgate.db
  std::string database_url;  // non-empty: PostgreSQL
};

// Opens the store the options select and applies pending migrations. SQLite creates the data
// directory if needed: kIoError (param "--data-dir") when it cannot. PostgreSQL: kStoreUnavailable
// (param "DATABASE_URL") when it cannot connect.
Result<std::unique_ptr<Store>> open_store(const StoreOptions& options);

}  // namespace tollgate::server
