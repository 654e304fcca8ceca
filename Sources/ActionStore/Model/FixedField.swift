/// The fixed (non-metadata) string fields of an action, in storage order.
public enum FixedField: Int, Sendable, CaseIterable, Hashable {
    case actionName = 0
    case userId
    case anonymousId
    case companyId
    case sessionToken
    case transactionId
    case subscriptionId
    case requestURI
    case requestIPAddress
    case requestUserAgent
    case requestVerb

    /// The field's name in queries and in the Moesif action shape.
    public var name: String {
        switch self {
        case .actionName: "action_name"
        case .userId: "user_id"
        case .anonymousId: "anonymous_id"
        case .companyId: "company_id"
        case .sessionToken: "session_token"
        case .transactionId: "transaction_id"
        case .subscriptionId: "subscription_id"
        case .requestURI: "request.uri"
        case .requestIPAddress: "request.ip_address"
        case .requestUserAgent: "request.user_agent_string"
        case .requestVerb: "request.verb"
        }
    }

    /// Looks a fixed field up by its query name (`user_id`, `request.uri`, …).
    public init?(name: String) {
        guard let f = FixedField.allCases.first(where: { $0.name == name }) else { return nil }
        self = f
    }
}

extension Action {
    /// Reads a fixed field.
    public subscript(field: FixedField) -> String? {
        get {
            switch field {
            case .actionName: actionName
            case .userId: userId
            case .anonymousId: anonymousId
            case .companyId: companyId
            case .sessionToken: sessionToken
            case .transactionId: transactionId
            case .subscriptionId: subscriptionId
            case .requestURI: requestURI
            case .requestIPAddress: requestIPAddress
            case .requestUserAgent: requestUserAgent
            case .requestVerb: requestVerb
            }
        }
        set {
            switch field {
            case .actionName: actionName = newValue ?? ""
            case .userId: userId = newValue
            case .anonymousId: anonymousId = newValue
            case .companyId: companyId = newValue
            case .sessionToken: sessionToken = newValue
            case .transactionId: transactionId = newValue
            case .subscriptionId: subscriptionId = newValue
            case .requestURI: requestURI = newValue
            case .requestIPAddress: requestIPAddress = newValue
            case .requestUserAgent: requestUserAgent = newValue
            case .requestVerb: requestVerb = newValue
            }
        }
    }
}
