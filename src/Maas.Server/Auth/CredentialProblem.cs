namespace Maas.Server.Auth;

/// <summary>Why no usable credential was read.</summary>
public enum CredentialProblem
{
    /// <summary>None: either a secret was read, or nothing was sent.</summary>
    None,

    /// <summary>More than one credential (two Authorization headers, or Authorization and x-api-key): refused, never guessed.</summary>
    Ambiguous,

    /// <summary>An Authorization header that is not "Bearer &lt;key&gt;", or an empty x-api-key.</summary>
    BadScheme,
}
