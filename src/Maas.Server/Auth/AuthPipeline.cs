using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using Maas.Core.Registry;
using Maas.Core.Tenancy;
using Microsoft.Extensions.Options;

namespace Maas.Server.Auth;

/// <summary>
/// The one gate every request passes (REST and gRPC): read the key, authenticate it (cached), check the route's
/// scope and the model's tenant, admit it against the key's and the tenant's limits, run it, then record its
/// usage and, for management actions, an audit entry.
/// </summary>
/// <remarks>
/// Never logs or echoes a secret or a body. A request that fails authentication touches the database at most once
/// (a cache miss), and not at all when its key is malformed or was seen lately, or its client is blocked for guessing.
/// </remarks>
public sealed class AuthPipeline
{
    private static readonly Caller AnonymousCaller = new(null, null, "anonymous", Tenant.DefaultName, [MaasScopes.Infer], []);

    private readonly EndpointAccess _access;
    private readonly ApiKeyAuthenticator _keys;
    private readonly FailedAttemptLimiter _failures;
    private readonly LimitTracker _tracker;
    private readonly UsageRecorder _recorder;
    private readonly ModelDirectory _models;
    private readonly TenancyReadiness _readiness;
    private readonly TimeProvider _time;
    private readonly AuthOptions _options;
    private readonly OpenCalls _open;
    private readonly ILogger<AuthPipeline> _logger;

    /// <summary>Creates the pipeline.</summary>
    public AuthPipeline(
        EndpointAccess access,
        ApiKeyAuthenticator keys,
        FailedAttemptLimiter failures,
        LimitTracker tracker,
        UsageRecorder recorder,
        ModelDirectory models,
        TenancyReadiness readiness,
        TimeProvider time,
        IOptions<AuthOptions> options,
        OpenCalls open,
        ILogger<AuthPipeline> logger)
    {
        _open = open;
        _access = access;
        _keys = keys;
        _failures = failures;
        _tracker = tracker;
        _recorder = recorder;
        _models = models;
        _readiness = readiness;
        _time = time;
        _options = options.Value;
        _logger = logger;
    }

    /// <summary>The middleware of the main app: the route's rule comes from its endpoint metadata.</summary>
    public Task InvokeAsync(HttpContext context, RequestDelegate next)
    {
        var rule = _access.Resolve(context.GetEndpoint());
        if (rule.Kind == AccessKind.Anonymous)
        {
            return next(context);
        }

        string? model = null;
        if (rule.ModelRouteValue is { } name && context.Request.RouteValues.TryGetValue(name, out var value) && value is string text)
        {
            model = text;
        }

        return RunAsync(context, rule, AuthErrors.StyleOf(context.Request.Path), model, next);
    }

    /// <summary>The middleware of the gRPC listener: the rule comes from the method name.</summary>
    public Task InvokeGrpcAsync(HttpContext context, RequestDelegate next)
    {
        var rule = GrpcAccess.Resolve(context.Request.Path.Value ?? "");
        return rule.Kind == AccessKind.Anonymous ? next(context) : RunAsync(context, rule, ErrorStyle.Grpc, null, next);
    }

    /// <summary>Runs the gate for one request with an already resolved rule.</summary>
    public async Task RunAsync(HttpContext context, AccessRule rule, ErrorStyle style, string? model, RequestDelegate next)
    {
        if (!_readiness.Ready.IsCompletedSuccessfully)
        {
            await _readiness.Ready.WaitAsync(context.RequestAborted);
        }

        var at = _time.GetUtcNow();
        var started = Stopwatch.GetTimestamp();
        if (rule.Kind == AccessKind.Undeclared)
        {
            _logger.LogError("Route {Route} declares no scope; refusing it (add RequireScope to its mapping)", rule.Operation);
            await AuthErrors.WriteAsync(context, style,
                new AuthFailure(StatusCodes.Status403Forbidden, "route_scope_undeclared", "this route declares no scope, so no key may call it"));
            return;
        }

        var (secret, problem) = Credentials.Read(context.Request.Headers);
        var (caller, entry, failure) = await IdentifyAsync(context, rule, secret, problem);
        if (failure is not null || caller is null)
        {
            await AuthErrors.WriteAsync(context, style, failure!);
            return;
        }

        var usage = new RequestUsage(caller, _models);
        context.Features.Set(usage);

        var limits = new CallLimits(
            entry?.KeyCounters,
            entry?.Key.Limits ?? UsageLimits.None,
            entry?.TenantCounters ?? _tracker.ForTenant(caller.Tenant),
            entry?.TenantLimits ?? await _keys.GetTenantLimitsAsync(caller.Tenant, context.RequestAborted));
        var (refusal, admission) = await AdmitAsync(context, rule, style, caller, model, limits);
        if (refusal is not null)
        {
            SetWindowHeaders(context, admission, refusal.Limit);
            await AuthErrors.WriteAsync(context, style, refusal);
            Finish(context, rule, usage, entry, limits.KeyCounters, limits.TenantCounters, at, started, refusal.Status);
            return;
        }

        SetWindowHeaders(context, admission, null);
        _recorder.RequestStarted();
        var revocation = secret is not null && entry is not null ? Open(context, style, secret, limits) : null;
        var statusCode = 0;
        try
        {
            await next(context);
            statusCode = context.Response.StatusCode;
        }
        catch when (!context.Response.HasStarted)
        {
            statusCode = context.RequestAborted.IsCancellationRequested ? 499 : StatusCodes.Status500InternalServerError;
            throw;
        }
        catch
        {
            statusCode = context.RequestAborted.IsCancellationRequested ? 499 : context.Response.StatusCode;
            throw;
        }
        finally
        {
            Close(context, rule, style, usage, entry, limits, revocation, at, started, statusCode);
        }
    }

    // Who calls: a valid key's caller (the key and its cached limits), the anonymous caller where the route and the
    // server allow it, or the failure to answer with (recorded against the client and the key for lockouts).
    private async ValueTask<(Caller? Caller, KeyEntry? Entry, AuthFailure? Failure)> IdentifyAsync(
        HttpContext context, AccessRule rule, string? secret, CredentialProblem problem)
    {
        var client = context.Connection.RemoteIpAddress;
        if (problem == CredentialProblem.Ambiguous)
        {
            _failures.RecordFailure(client);
            return (null, null, new AuthFailure(
                StatusCodes.Status400BadRequest,
                "ambiguous_credentials",
                "send exactly one credential: one 'Authorization: Bearer <key>' header or one 'x-api-key' header, not both or several"));
        }

        if (secret is null)
        {
            if (problem == CredentialProblem.None && AllowsAnonymous(context, rule))
            {
                return (AnonymousCaller, null, null);
            }

            if (problem == CredentialProblem.BadScheme)
            {
                _failures.RecordFailure(client);
            }

            return (null, null, problem == CredentialProblem.BadScheme
                ? new AuthFailure(StatusCodes.Status401Unauthorized, "invalid_authorization", "the Authorization header must be 'Bearer <key>'")
                : new AuthFailure(StatusCodes.Status401Unauthorized, "missing_api_key", "this route needs an API key: send 'Authorization: Bearer <key>' or 'x-api-key: <key>'"));
        }

        if (_failures.BlockedFor(client, secret) is { } wait)
        {
            return (null, null, new AuthFailure(
                StatusCodes.Status429TooManyRequests,
                "too_many_failed_attempts",
                $"too many failed authentication attempts from this address or with this key (Maas:Auth:FailedAttemptsPerWindow = {_options.FailedAttemptsPerWindow} per " +
                $"address, FailedAttemptsPerKeyPrefix = {_options.FailedAttemptsPerKeyPrefix} per key, per " +
                $"{_options.FailedAttemptWindowSeconds.ToString(CultureInfo.InvariantCulture)} s); try again later",
                RetryAfter: wait));
        }

        KeyStatus status;
        KeyEntry? entry;
        try
        {
            (status, entry) = await _keys.AuthenticateAsync(secret, context.RequestAborted);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            _logger.LogError("Key lookup failed: {Message}", e.Message);
            return (null, null, new AuthFailure(
                StatusCodes.Status503ServiceUnavailable, "auth_unavailable", "keys cannot be checked right now (database unavailable); try again",
                    RetryAfter: TimeSpan.FromSeconds(1)));
        }

        if (status == KeyStatus.TenantDisabled && entry is not null)
        {
            // The secret is genuine, so this is no guessing attempt: not counted against the client.
            return (null, null, TenantDisabled(entry));
        }

        if (status != KeyStatus.Valid || entry is null)
        {
            _failures.RecordFailure(client, secret);
            return (null, null, status switch
            {
                KeyStatus.Revoked => new AuthFailure(StatusCodes.Status401Unauthorized, "api_key_revoked", $"the API key {entry?.Key.Prefix}... was revoked"),
                KeyStatus.Expired => new AuthFailure(StatusCodes.Status401Unauthorized, "api_key_expired", $"the API key {entry?.Key.Prefix}... has expired"),
                _ => new AuthFailure(StatusCodes.Status401Unauthorized, "invalid_api_key", "the API key is not valid"),
            });
        }

        _failures.RecordSuccess(secret);
        context.User = entry.Principal;
        return (entry.Caller, entry, null);
    }

    // The route's scope and the model's tenant first, then the key's and the tenant's limits (seeded from recorded
    // usage the first time a window is used); the refusal, if any, and the admission with its window for the headers.
    private async ValueTask<(AuthFailure? Refusal, Admission Admission)> AdmitAsync(
        HttpContext context, AccessRule rule, ErrorStyle style, Caller caller, string? model, CallLimits limits)
    {
        var refusal = await CheckAccessAsync(context, rule, style, caller, model);
        if (refusal is not null)
        {
            return (refusal, default);
        }

        if (limits.KeyCounters is not null && _tracker.NeedsSeed(limits.KeyCounters, limits.KeyLimits))
        {
            await _recorder.SeedAsync(caller.KeyId, null, limits.KeyCounters, context.RequestAborted);
        }

        if (_tracker.NeedsSeed(limits.TenantCounters, limits.TenantLimits))
        {
            await _recorder.SeedAsync(null, caller.Tenant, limits.TenantCounters, context.RequestAborted);
        }

        var admission = _tracker.TryAdmit(limits.KeyCounters, limits.KeyLimits, limits.TenantCounters, limits.TenantLimits);
        return (admission.Rejection is { } rejection ? AuthErrors.RateLimited(rejection, _time.GetUtcNow()) : null, admission);
    }

    // A keyed call is listed as open (a key revoked meanwhile ends it); a gRPC stream also gets its per-message admission.
    private CallRevocation? Open(HttpContext context, ErrorStyle style, string secret, CallLimits limits)
    {
        CallRevocation? revocation = null;
        if (style == ErrorStyle.Grpc)
        {
            revocation = new CallRevocation();
            context.Features.Set(revocation);
            context.Features.Set(new StreamAdmission(this, secret, limits.KeyCounters, limits.KeyLimits, limits.TenantCounters, limits.TenantLimits));
        }

        _open.Add(context, secret, revocation);
        return revocation;
    }

    // The end of an admitted call, however it ended: release its limits, record its usage with its final status.
    private void Close(
        HttpContext context, AccessRule rule, ErrorStyle style, RequestUsage usage, KeyEntry? entry, CallLimits limits,
        CallRevocation? revocation, DateTimeOffset at, long started, int statusCode)
    {
        _open.Remove(context);
        revocation?.Dispose();
        LimitTracker.Release(limits.KeyCounters, limits.TenantCounters);
        if (statusCode == 0)
        {
            statusCode = context.Response.StatusCode;
        }

        if (style == ErrorStyle.Grpc && statusCode == StatusCodes.Status200OK)
        {
            statusCode = GrpcOutcome(context);
        }

        Finish(context, rule, usage, entry, limits.KeyCounters, limits.TenantCounters, at, started, statusCode);
        if (context.Features.Get<StreamAdmission>() is { ChargedMs: > 0 } stream)
        {
            // The record just counted the call's whole compute; what its messages counted already comes out again.
            _tracker.AddPending(limits.KeyCounters, limits.TenantCounters, 0, -stream.ChargedMs);
        }

        _recorder.RequestEnded();
    }

    private async ValueTask<AuthFailure?> CheckAccessAsync(HttpContext context, AccessRule rule, ErrorStyle style, Caller caller, string? model)
    {
        var requirement = rule.Requirement!;
        if (!caller.Has(requirement.AnyOf))
        {
            return new AuthFailure(
                StatusCodes.Status403Forbidden,
                "insufficient_scope",
                $"this route needs the scope {requirement}; the key has {(caller.Scopes.Count == 0 ? "none" : string.Join(", ", caller.Scopes))}");
        }

        if (model is null)
        {
            return null;
        }

        var access = await _models.CheckAsync(caller, model, rule.WritesModel, context.RequestAborted);
        if (access.Key is not null)
        {
            // From here on the route names the model by its key: endpoints never see the caller's short name.
            context.Usage().ReportModel(access.Reference, VersionOf(context));
            if (rule.ModelRouteValue is { } routeValue && context.Request.RouteValues.ContainsKey(routeValue))
            {
                context.Request.RouteValues[routeValue] = access.Reference;
            }
        }

        return access.Result switch
        {
            ModelAccessResult.Hidden => NotFound(style, model, access.NotFoundHint),
            ModelAccessResult.ReadOnly => new AuthFailure(
                StatusCodes.Status403Forbidden, "model_read_only",
                    $"model '{ModelPatterns.ModelNameOf(ModelKeys.UnescapeSlash(model))}' is shared by another tenant: it can be read and called, not changed"),
            _ => null,
        };
    }

    /// <summary>
    /// Admits one more message of a streaming call: its key must still be valid, and the message counts against the
    /// rate windows and budgets like a request of its own. Null when admitted, else the refusal.
    /// </summary>
    internal async ValueTask<AuthFailure?> AdmitMessageAsync(StreamAdmission call, CancellationToken cancellationToken)
    {
        var (status, entry) = await _keys.AuthenticateAsync(call.Secret, cancellationToken);
        if (status == KeyStatus.TenantDisabled && entry is not null)
        {
            return TenantDisabled(entry);
        }

        if (status != KeyStatus.Valid)
        {
            return new AuthFailure(StatusCodes.Status401Unauthorized, "api_key_" + status.ToString().ToLowerInvariant(),
                $"the API key {entry?.Key.Prefix}... is {status.ToString().ToLowerInvariant()}");
        }

        var admission = _tracker.TryAdmitMessage(call.KeyCounters, call.KeyLimits, call.TenantCounters, call.TenantLimits);
        return admission.Rejection is { } rejection ? AuthErrors.RateLimited(rejection, _time.GetUtcNow()) : null;
    }

    /// <summary>Counts one stream message's compute as pending against the call's budgets.</summary>
    internal void ChargeMessage(StreamAdmission call, double computeMs) => _tracker.AddPending(call.KeyCounters, call.TenantCounters, 0, computeMs);

    /// <summary>The 403 for a key of a suspended tenant.</summary>
    public static AuthFailure TenantDisabled(KeyEntry entry) => new(
        StatusCodes.Status403Forbidden,
        "tenant_disabled",
        $"the tenant '{entry.Key.Tenant}' of the API key {entry.Key.Prefix}... is disabled; an admin can enable it again");

    /// <summary>
    /// The 404 for a model the caller may not see, worded like the route's own "does not exist"; it depends only on
    /// what the caller sent (and <paramref name="hint"/>, which names shared models only).
    /// </summary>
    public static AuthFailure NotFound(ErrorStyle style, string model, string? hint = null)
    {
        model = ModelKeys.UnescapeSlash(model);
        var shown = RegistryNames.Shorten(style == ErrorStyle.OpenAi ? model : ModelPatterns.ModelNameOf(model));
        var message = hint ?? (style == ErrorStyle.OpenAi ? $"The model '{shown}' does not exist" : $"model '{shown}' does not exist");
        // "model", as every other model_not_found of the OpenAI routes names it.
        return new AuthFailure(StatusCodes.Status404NotFound, "model_not_found", message, Param: "model");
    }

    // A gRPC call is HTTP 200 whatever happened; its grpc-status (trailer, or header when trailers-only) says how it went.
    private static int GrpcOutcome(HttpContext context)
    {
        var trailers = context.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpResponseTrailersFeature>()?.Trailers;
        var value = trailers is not null && trailers.TryGetValue("grpc-status", out var t) ? t.ToString() : context.Response.Headers["grpc-status"].ToString();
        return int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var code)
            ? code switch
            {
                0 => 200,
                1 => 499, // CANCELLED
                3 or 9 or 11 => 400, // INVALID_ARGUMENT, FAILED_PRECONDITION, OUT_OF_RANGE
                4 => 504, // DEADLINE_EXCEEDED
                5 => 404,
                6 or 10 => 409, // ALREADY_EXISTS, ABORTED
                7 => 403,
                8 => 429,
                12 => 501, // UNIMPLEMENTED
                14 => 503,
                16 => 401,
                _ => 500,
            }
            : 200;
    }

    private bool AllowsAnonymous(HttpContext context, AccessRule rule) =>
        _options.AllowAnonymousInfer
        && rule.Requirement is { } requirement
        && MaasScopes.Satisfies([MaasScopes.Infer], requirement.AnyOf)
        && context.Connection.RemoteIpAddress is { } remote && IPAddress.IsLoopback(remote)
        && context.Connection.LocalIpAddress is { } local && IPAddress.IsLoopback(local);

    private static int? VersionOf(HttpContext context) =>
        context.Request.RouteValues.TryGetValue("version", out var v) && v is string text
        && int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : null;

    private void Finish(HttpContext context, AccessRule rule, RequestUsage usage, KeyEntry? entry, LimitCounters? keyCounters, LimitCounters tenantCounters, DateTimeOffset at,
        long started, int status)
    {
        var latency = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
        var caller = usage.Caller;
        var infers = rule.Requirement?.AnyOf.Contains(MaasScopes.Infer) == true;
        _recorder.Record(
            new UsageRecord
            {
                At = at,
                Tenant = caller.Tenant,
                KeyId = caller.KeyId,
                Model = usage.Model,
                Version = usage.RecordedVersion(status),
                Protocol = rule.Protocol,
                Operation = rule.Operation,
                Status = status,
                LatencyMs = latency,
                PromptTokens = usage.PromptTokens,
                CompletionTokens = usage.CompletionTokens,
                BatchItems = usage.BatchItems,
                // Engine time when the endpoint reported it; else the wall time of a successful serving call.
                ComputeMs = usage.ComputeMs ?? (infers && status < 400 ? latency : 0),
            },
            keyCounters,
            tenantCounters);
        if (entry is not null)
        {
            _recorder.Touch(entry.Key.Id, at);
        }

        var method = context.Request.Method;
        if (rule.IsManagement && !HttpMethods.IsGet(method) && !HttpMethods.IsHead(method) && !HttpMethods.IsOptions(method))
        {
            _recorder.Audit(new AuditEntry
            {
                At = at,
                Actor = caller.Actor,
                ActorTenant = caller.Tenant,
                Action = rule.AuditAction ?? $"{method} {rule.Operation}",
                Target = usage.AuditTarget ?? TargetOf(context),
                Client = context.Connection.RemoteIpAddress?.ToString(),
                RequestId = context.TraceIdentifier,
                Status = status,
                Result = AuditEntry.ResultOf(status),
            });
        }
    }

    private static string? TargetOf(HttpContext context)
    {
        StringBuilder? target = null;
        foreach (var (name, value) in context.Request.RouteValues)
        {
            if (value is string text && text.Length > 0)
            {
                target ??= new StringBuilder();
                target.Append(target.Length == 0 ? "" : ",").Append(name).Append('=').Append(text.Length <= 128 ? text : text[..128]);
            }
        }

        return target?.ToString();
    }

    private void SetWindowHeaders(HttpContext context, Admission admission, LimitRejection? rejection)
    {
        var headers = context.Response.Headers;
        var now = _time.GetUtcNow();
        if (rejection is { Kind: LimitKind.RequestsPerMinute or LimitKind.TokensPerMinute, ResetAt: { } reset })
        {
            var suffix = rejection.Kind == LimitKind.RequestsPerMinute ? "requests" : "tokens";
            headers["x-ratelimit-limit-" + suffix] = ((long)rejection.Value).ToString(CultureInfo.InvariantCulture);
            headers["x-ratelimit-remaining-" + suffix] = "0";
            headers["x-ratelimit-reset-" + suffix] = Duration(reset - now);
            return;
        }

        if (admission.Requests is { } requests)
        {
            headers["x-ratelimit-limit-requests"] = requests.Limit.ToString(CultureInfo.InvariantCulture);
            headers["x-ratelimit-remaining-requests"] = requests.Remaining.ToString(CultureInfo.InvariantCulture);
            headers["x-ratelimit-reset-requests"] = Duration(requests.ResetAt - now);
        }

        if (admission.Tokens is { } tokens)
        {
            headers["x-ratelimit-limit-tokens"] = tokens.Limit.ToString(CultureInfo.InvariantCulture);
            headers["x-ratelimit-remaining-tokens"] = tokens.Remaining.ToString(CultureInfo.InvariantCulture);
            headers["x-ratelimit-reset-tokens"] = Duration(tokens.ResetAt - now);
        }
    }

    /// <summary>A duration the way OpenAI's x-ratelimit-reset-* headers write it: "250ms", "12.5s", "6m0s", "1h2m3s".</summary>
    public static string Duration(TimeSpan span)
    {
        if (span < TimeSpan.Zero)
        {
            span = TimeSpan.Zero;
        }

        if (span < TimeSpan.FromSeconds(1))
        {
            return ((long)Math.Ceiling(span.TotalMilliseconds)).ToString(CultureInfo.InvariantCulture) + "ms";
        }

        var seconds = (span.TotalSeconds % 60).ToString("0.###", CultureInfo.InvariantCulture) + "s";
        if (span < TimeSpan.FromMinutes(1))
        {
            return seconds;
        }

        var minutes = ((long)span.TotalMinutes % 60).ToString(CultureInfo.InvariantCulture) + "m";
        return span < TimeSpan.FromHours(1) ? minutes + seconds : ((long)span.TotalHours).ToString(CultureInfo.InvariantCulture) + "h" + minutes + seconds;
    }

    // A call's counters and limits: its key's (none for the anonymous caller) and its tenant's.
    private readonly record struct CallLimits(LimitCounters? KeyCounters, UsageLimits KeyLimits, LimitCounters TenantCounters, UsageLimits TenantLimits);

}
