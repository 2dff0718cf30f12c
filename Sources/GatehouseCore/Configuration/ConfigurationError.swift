/// Why a configuration was refused, naming the file field, variable or flag at fault.
///
/// `description` is the one line `gatehouse` prints on stderr before exiting with
/// status 2: `config: <field>: <message>`. Messages never quote a secret value.
public struct ConfigurationError: Error, CustomStringConvertible, Equatable, Sendable {
    /// What kind of mistake it is, for callers and tests that branch on it.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable {
            case invalidYAML, unknownKey, wrongType, missing, invalidValue
            case unsetVariable, unreadableFile, conflict
        }

        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// The text is not YAML, or its top level is not a mapping.
        public static let invalidYAML = Code(.invalidYAML)
        /// A key the configuration does not know (a typo must not pass silently).
        public static let unknownKey = Code(.unknownKey)
        /// A value of the wrong shape: a list where a string belongs, `abc` for a number.
        public static let wrongType = Code(.wrongType)
        /// A required field is absent.
        public static let missing = Code(.missing)
        /// A value of the right type that is still not acceptable.
        public static let invalidValue = Code(.invalidValue)
        /// `${VAR}` names a variable that is not set and has no default.
        public static let unsetVariable = Code(.unsetVariable)
        /// A `*_file` (or the config file itself) could not be read.
        public static let unreadableFile = Code(.unreadableFile)
        /// Two settings that exclude each other are both present.
        public static let conflict = Code(.conflict)

        public var description: String { base.rawValue }
    }

    /// What kind of mistake it is.
    public var code: Code
    /// Where: a YAML path (`apps[0].api.owner_key_file`), a variable (`GATEHOUSE_LISTEN`)
    /// or a flag (`--listen`).
    public var field: String
    /// What is wrong, in words; never a secret value.
    public var message: String

    public init(_ code: Code, field: String, message: String) {
        self.code = code
        self.field = field
        self.message = message
    }

    /// `config: <field>: <message>` on one line.
    public var description: String {
        Self.oneLine("config: \(field): \(message)")
    }

    private static func oneLine(_ text: String) -> String {
        String(text.map { $0.isNewline ? " " : $0 })
    }
}
