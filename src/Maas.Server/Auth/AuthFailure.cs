using Maas.Core.Tenancy;

namespace Maas.Server.Auth;

/// <summary>One refusal by the auth layer: status, stable code, a message without secrets, and extra fields.</summary>
/// <param name="Status">The HTTP status.</param>
/// <param name="Code">The stable error code.</param>
/// <param name="Message">What went wrong, without secrets.</param>
/// <param name="Limit">The limit that refused the request, if one did.</param>
/// <param name="RetryAfter">When a retry may succeed.</param>
/// <param name="Param">The request parameter at fault (OpenAI's <c>param</c>), e.g. "model".</param>
public sealed record AuthFailure(int Status, string Code, string Message, LimitRejection? Limit = null, TimeSpan? RetryAfter = null, string? Param = null);
