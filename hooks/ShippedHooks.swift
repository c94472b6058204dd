/// The hook scripts of this folder, embedded at build time (SwiftPM `.embedInCode`), so the
/// files shipped here and the scripts `agent hooks install` writes cannot differ.
/// `EnvAgentCore.HookScripts` is the API; this target only carries the bytes.
public enum ShippedHooks {
    public static func script(named name: String) -> [UInt8]? {
        switch name {
        case "pre-commit": PackageResources.pre_commit
        case "post-checkout": PackageResources.post_checkout
        case "post-merge": PackageResources.post_merge
        case "post-rewrite": PackageResources.post_rewrite
        default: nil
        }
    }
}
