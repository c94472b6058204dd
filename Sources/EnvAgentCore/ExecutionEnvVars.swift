/// Environment variables that change what a process runs, loads or trusts.
///
/// Anyone who can push can seal a write-only value (`s:`), and nobody can read it before it
/// is rendered. Mapped to one of these variables, such a value would be code run on every
/// machine that renders or runs the environment, so write-only writers may not map a value to
/// one (refused when written, and when a hand-edited line is read). Members may, explicitly
/// (`--allow-exec-env-var`, `allow_exec_env_var` in the API). The list is README "Validation".
public enum ExecutionEnvVars {
    /// Matched by exact name: what setting each one changes.
    static let names: [String: String] = [
        "PATH": "where commands are looked up",
        "IFS": "how shells split words",
        "ENV": "the file sh runs when it starts",
        "BASH_ENV": "the file every non-interactive bash runs when it starts",
        "SHELLOPTS": "the options of every bash",
        "PS4": "what bash expands (and may run) when tracing",
        "PROMPT_COMMAND": "the command bash runs before each prompt",
        "GCONV_PATH": "which character-conversion modules glibc loads",
        "GLIBC_TUNABLES": "how glibc and the dynamic loader behave",
        "HOSTALIASES": "how host names resolve",
        "NODE_OPTIONS": "the options of every node process, including code to preload",
        "NODE_PATH": "where node loads modules from",
        "PYTHONPATH": "where python loads modules from",
        "PYTHONHOME": "which standard library python loads",
        "PYTHONSTARTUP": "the file python runs when it starts",
        "PERL5OPT": "the options of every perl process, including modules to load",
        "PERL5LIB": "where perl loads modules from",
        "PERLLIB": "where perl loads modules from",
        "RUBYOPT": "the options of every ruby process, including libraries to load",
        "RUBYLIB": "where ruby loads libraries from",
        "JAVA_TOOL_OPTIONS": "the options of every JVM, including agents to load",
        "_JAVA_OPTIONS": "the options of every JVM, including agents to load",
        "JDK_JAVA_OPTIONS": "the options of the java launcher, including agents to load",
        "CLASSPATH": "where java loads classes from",
        "SSL_CERT_FILE": "which certificate authorities TLS trusts",
        "SSL_CERT_DIR": "which certificate authorities TLS trusts",
        "NODE_EXTRA_CA_CERTS": "which certificate authorities node trusts",
        "REQUESTS_CA_BUNDLE": "which certificate authorities python's requests trusts",
        "CURL_CA_BUNDLE": "which certificate authorities curl trusts",
        "EDITOR": "the command programs run to edit a file",
        "VISUAL": "the command programs run to edit a file",
        "PAGER": "the command programs run to page output",
        "MANPAGER": "the command man runs to page output",
        "LESSOPEN": "the command less runs on every file it opens",
        "LESSCLOSE": "the command less runs after every file it opens",
        "BROWSER": "the command programs run to open a URL",
        "SSH_ASKPASS": "the command ssh runs to ask for a passphrase",
        "SUDO_ASKPASS": "the command sudo runs to ask for a password",
        "PIP_INDEX_URL": "where pip installs packages from",
        "PIP_EXTRA_INDEX_URL": "where pip installs packages from",
    ]

    /// Matched by prefix: what the variables of each family change.
    static let prefixes: [(prefix: String, effect: String)] = [
        ("LD_", "what the dynamic loader loads into every process"),
        ("DYLD_", "what the macOS dynamic loader loads into every process"),
        ("GIT_", "which commands, hooks and configuration git uses"),
        ("npm_config_", "npm's configuration, including the shell it runs scripts with"),
        ("NPM_CONFIG_", "npm's configuration, including the shell it runs scripts with"),
    ]

    /// What setting `envVar` changes, nil when it is not one of these variables.
    public static func effect(of envVar: String) -> String? {
        if let effect = names[envVar] { return effect }
        return prefixes.first { envVar.hasPrefix($0.prefix) }?.effect
    }

    public static func contains(_ envVar: String) -> Bool { effect(of: envVar) != nil }
}
