import ActionStore
import Foundation

/// A deterministic generator of realistic Moesif actions (same seed, same bytes).
///
/// Distributions (documented in docs/performance.md):
/// - 40 action names, Zipf (s = 1.1): "Viewed Page" dominates, "Cancelled Subscription" is rare;
/// - 1,000,000 users (`user-N`, Zipf s = 0.9) and 20,000 companies (`company-N`, Zipf s = 1.0);
///   8% of actions are anonymous (`anonymous_id` instead of `user_id`);
/// - a session token per user and day, a random UUID transaction_id, an IPv4 per user;
/// - times over `days` days (default 90) ending at `end`, with a daily cycle (busy 14:00–20:00 UTC);
///   2% of actions are late: their time is up to 3 days before their position in the stream;
/// - metadata: `provider` (6 values), `plan` (4), `button_label` (25), `page.path` → `page_path`
///   (2,000 values, nested under `page`), `referrer` (high cardinality, 30% of actions),
///   `amount` (number on purchase actions only, integral cents or decimals), `quantity` (integer, 20%),
///   `is_trial` (boolean, 10%), `tags` (array, 5%), `experiment.variant` (nested, 15%).
struct ActionGenerator {
    var rng: SplitMix64
    let end: Int64
    let days: Int
    let count: Int
    private var index = 0
    private let names: ZipfTable
    private let users: ZipfTable
    private let companies: ZipfTable

    static let actionNames: [String] = [
        "Viewed Page", "Clicked Button", "Searched", "Viewed Pricing", "Clicked Sign Up", "Signed In",
        "Viewed Docs", "Copied API Key", "Created Project", "Invited Teammate", "Viewed Dashboard",
        "Exported Report", "Updated Profile", "Started Trial", "Viewed Invoice", "Added Payment Method",
        "Purchased a Subscription", "Upgraded Plan", "Downgraded Plan", "Opened Support Chat",
        "Submitted Feedback", "Watched Tutorial", "Connected Integration", "Created Webhook",
        "Deleted Project", "Rotated API Key", "Enabled 2FA", "Viewed Changelog", "Shared Dashboard",
        "Created Alert", "Muted Alert", "Downloaded SDK", "Ran Query", "Saved Query", "Viewed Usage",
        "Hit Rate Limit", "Requested Demo", "Renewed Subscription", "Refunded Purchase", "Cancelled Subscription",
    ]
    static let providers = ["Google", "GitHub", "Email", "Microsoft", "Okta", "Apple"]
    static let plans = ["free", "starter", "growth", "enterprise"]

    /// `end` defaults to 2026-10-01T00:00:00Z.
    init(seed: UInt64, count: Int, days: Int = 90, end: Int64 = 1_790_812_800_000_000) {
        rng = SplitMix64(seed: seed)
        self.end = end
        self.days = days
        self.count = count
        names = ZipfTable(n: ActionGenerator.actionNames.count, s: 1.1)
        users = ZipfTable(n: 1_000_000, s: 0.9)
        companies = ZipfTable(n: 20_000, s: 1.0)
    }

    /// The next action as one NDJSON line (no newline), or nil after `count` actions.
    mutating func next() -> String? {
        guard index < count else { return nil }
        defer { index += 1 }
        let start = end - Int64(days) * 86_400_000_000
        // Stream position maps to a day; within the day, a daily cycle.
        let day = Int64(index) * Int64(days) / Int64(max(count, 1))
        var secondOfDay = Int64(rng.next() % 86_400)
        if rng.next() % 100 < 55 { secondOfDay = 50_400 + Int64(rng.next() % 21_600) }
        var t = start + day * 86_400_000_000 + secondOfDay * 1_000_000 + Int64(rng.next() % 1_000_000)
        if rng.next() % 100 < 2 { t -= Int64(rng.next() % (3 * 86_400_000_000)) }
        t = max(start, min(t, end - 1))

        let nameIndex = names.sample(&rng)
        let name = ActionGenerator.actionNames[nameIndex]
        let user = users.sample(&rng)
        let company = companies.sample(&rng)
        var out = "{\"action_name\":\"" + name + "\""
        if rng.next() % 100 < 8 {
            out += ",\"anonymous_id\":\"anon-" + String(rng.next() % 5_000_000) + "\""
        } else {
            out += ",\"user_id\":\"user-" + String(user) + "\""
            out += ",\"company_id\":\"company-" + String(company) + "\""
            out += ",\"session_token\":\"sess-" + String(user) + "-" + String(day) + "\""
        }
        out += ",\"transaction_id\":\"" + uuid() + "\""
        if nameIndex >= 16 && rng.next() % 2 == 0 { out += ",\"subscription_id\":\"sub-" + String(company) + "\"" }
        let ip = "\(10 + user % 200).\(user / 65_536 % 256).\(user / 256 % 256).\(user % 256)"
        out += ",\"request\":{\"time\":\"" + Timestamp.format(t) + "\",\"uri\":\"https://app.example.com/"
        out += ["pricing", "docs", "dashboard", "settings", "signup", "billing"][Int(rng.next() % 6)]
        out += "\",\"ip_address\":\"" + ip + "\",\"user_agent_string\":\""
        out +=
            ["Mozilla/5.0 (Macintosh)", "Mozilla/5.0 (Windows NT 10.0)", "Mozilla/5.0 (X11; Linux)", "curl/8.4"][
                Int(rng.next() % 4)
            ]
        out += "\",\"verb\":\"GET\"}"
        out += ",\"metadata\":{\"provider\":\"" + ActionGenerator.providers[Int(rng.next() % 6)] + "\""
        out += ",\"plan\":\"" + ActionGenerator.plans[Int(rng.next() % 4)] + "\""
        out += ",\"button_label\":\"label " + String(rng.next() % 25) + "\""
        out += ",\"page\":{\"path\":\"/p/" + String(rng.next() % 2000) + "\"}"
        if rng.next() % 100 < 30 {
            out += ",\"referrer\":\"https://ref" + String(rng.next() % 100_000) + ".example.org/\""
        }
        if name.contains("Purchase") || name.contains("Subscription") || name.contains("Upgraded") {
            let cents = Int(rng.next() % 100_000)
            out += ",\"amount\":" + (cents % 3 == 0 ? String(cents / 100) : String(Double(cents) / 100))
        }
        if rng.next() % 100 < 20 { out += ",\"quantity\":" + String(1 + rng.next() % 20) }
        if rng.next() % 100 < 10 { out += ",\"is_trial\":" + (rng.next() % 2 == 0 ? "true" : "false") }
        if rng.next() % 100 < 5 { out += ",\"tags\":[\"t" + String(rng.next() % 10) + "\",\"beta\"]" }
        if rng.next() % 100 < 15 {
            out += ",\"experiment\":{\"name\":\"exp-" + String(rng.next() % 12) + "\",\"variant\":\""
            out += (rng.next() % 2 == 0 ? "control" : "treatment") + "\"}"
        }
        out += "}}"
        return out
    }

    private mutating func uuid() -> String {
        let hex = Array("0123456789abcdef")
        var s = ""
        s.reserveCapacity(36)
        var a = rng.next()
        var b = rng.next()
        for i in 0..<32 {
            if i == 8 || i == 12 || i == 16 || i == 20 { s.append("-") }
            let v: UInt64
            if i < 16 {
                v = a & 0xF
                a >>= 4
            } else {
                v = b & 0xF
                b >>= 4
            }
            s.append(i == 12 ? "4" : hex[Int(v)])
        }
        return s
    }
}

/// SplitMix64: tiny, fast, and the same on every platform.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Samples 0..<n with probability proportional to 1/(k+1)^s, by binary search in the CDF.
struct ZipfTable {
    let cdf: [Double]

    init(n: Int, s: Double) {
        var c = [Double](repeating: 0, count: n)
        var sum = 0.0
        for k in 0..<n {
            sum += 1.0 / pow(Double(k + 1), s)
            c[k] = sum
        }
        cdf = c.map { $0 / sum }
    }

    func sample(_ rng: inout SplitMix64) -> Int {
        let u = Double(rng.next() >> 11) / Double(1 << 53)
        var lo = 0
        var hi = cdf.count - 1
        while lo < hi {
            let mid = (lo + hi) / 2
            if cdf[mid] < u { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }
}
