import ActionStore
import Hummingbird

extension Collector {
    /// `GET /v1/schema?app=…`: the fields a query over the application may name, with their types,
    /// for the web view's drop-downs (and any other client).
    ///
    /// Authorized like `POST /v1/query` (``authorizeRead(_:)``). The answer:
    /// ```json
    /// {"application": "demo",
    ///  "fields": [{"name": "time", "type": "time"}, {"name": "action_name", "type": "string"}, …],
    ///  "metadata": [{"name": "metadata.plan", "type": "string"}, {"name": "metadata.amount", "type": "number"}]}
    /// ```
    /// `fields` are the fixed fields in storage order; `metadata` every path the application has
    /// seen (leaves and objects) in byte order. 404 when the application has stored nothing.
    func schema(_ request: Request) -> Response {
        let application: String
        let key: ReadKey
        switch authorizeRead(request) {
        case .application(let a, let k): (application, key) = (a, k)
        case .refused(let response): return response
        }
        guard let schema = store.schema(application: application) else {
            let readable = store.applications.filter { key.allows($0) }
            return CollectorResponse.error(
                .notFound,
                code: "not_found",
                "application \(application) has stored no actions; "
                    + (readable.isEmpty
                        ? "this read key may read none that has"
                        : "this read key may read: \(readable.joined(separator: ", "))")
            )
        }
        return CollectorResponse.json(.ok, Self.schemaJSON(application: application, schema))
    }

    /// The body of a `GET /v1/schema` answer.
    static func schemaJSON(application: String, _ schema: Schema) -> String {
        func entry(_ name: String, _ type: String) -> String {
            #"{"name":\#(CollectorResponse.quote(name)),"type":"\#(type)"}"#
        }
        let fields = [entry("time", "time")] + FixedField.allCases.map { entry($0.name, "string") }
        let metadata = schema.asDelta.paths.map { entry("metadata." + $0.name, $0.type.description) }
        return #"{"application":\#(CollectorResponse.quote(application)),"#
            + #""fields":[\#(fields.joined(separator: ","))],"metadata":[\#(metadata.joined(separator: ","))]}"#
    }
}
