using System.Globalization;
using Maas.Core.Deployments;
using Maas.Core.Formats;
using Maas.Core.Hosting;
using Maas.Core.Registry;
using Maas.Core.Tenancy;
using Maas.Core.TensorServing;
using Maas.Server.Auth;
using Microsoft.Extensions.Options;

namespace Maas.Server.Deployments;

/// <summary>
/// Every change of a deployment: checks it, warms the versions about to get traffic (load plus one sample request),
/// stores it atomically with its history row, and refreshes this server's router at once.
/// </summary>
public sealed class DeploymentService
{
    private readonly IDeploymentStore _store;
    private readonly IModelRegistry _registry;
    private readonly DeploymentRouter _router;
    private readonly WarmingVersions _warming;
    private readonly DeploymentUnloader _unloader;
    private readonly UsageRecorder _recorder;
    private readonly TimeProvider _time;
    private readonly IOptions<DeploymentOptions> _options;
    private readonly ILogger<DeploymentService> _logger;
    private readonly ModelManager? _models;
    private readonly ModelHost? _host;
    private readonly ITextVersionWarmUp? _textWarmUp;

    /// <summary>
    /// Creates the service and attaches it to <paramref name="deletions"/> (versions the registry deleted). Without
    /// tensor serving (<paramref name="models"/>) nothing is warmed; without language-model serving
    /// (<paramref name="textWarmUp"/>) GGUF versions are not; without <paramref name="host"/> nothing counts as loaded.
    /// </summary>
    public DeploymentService(
        IDeploymentStore store,
        IModelRegistry registry,
        DeploymentRouter router,
        WarmingVersions warming,
        DeploymentUnloader unloader,
        VersionDeletions deletions,
        UsageRecorder recorder,
        TimeProvider time,
        IOptions<DeploymentOptions> options,
        ILogger<DeploymentService> logger,
        ModelManager? models = null,
        ModelHost? host = null,
        ITextVersionWarmUp? textWarmUp = null)
    {
        _store = store;
        _registry = registry;
        _router = router;
        _warming = warming;
        _unloader = unloader;
        _recorder = recorder;
        _time = time;
        _options = options;
        _logger = logger;
        _models = models;
        _host = host;
        _textWarmUp = textWarmUp;
        deletions.Attach(VersionDeletedAsync);
    }

    /// <summary>The most history rows one request returns.</summary>
    public const int MaxHistory = 1000;

    /// <summary>The store.</summary>
    public IDeploymentStore Store => _store;

    /// <summary>This server's router (and its metrics).</summary>
    public DeploymentRouter Router => _router;

    /// <summary>Creates a deployment for the model of <paramref name="modelKey"/>.</summary>
    public async Task<Deployment> CreateAsync(string modelKey, string? name, DeploymentSpec spec, string actor, CancellationToken cancellationToken)
    {
        ModelKeys.TrySplit(modelKey, out var tenant, out var modelName);
        name = string.IsNullOrEmpty(name) ? modelName : name;
        RegistryNames.ValidateName(name, "deployment");
        var now = _time.GetUtcNow();
        var draft = Build(
            new Deployment { Tenant = tenant, Name = name, Model = modelKey, Traffic = [], Stable = 0, CreatedBy = actor, CreatedAt = now },
            spec with { Shadow = spec.Shadow ?? [] },
            now);
        await CheckVersionsAsync(draft, cancellationToken);
        var created = await WarmAndSaveAsync(draft, null, async () =>
        {
            var stored = await _store.CreateAsync(draft, Event(actor, "create", null, draft, now), cancellationToken);
            await _router.RefreshAsync(force: true, CancellationToken.None); // stored: see SaveAsync
            return stored;
        }, cancellationToken);
        if (await GoneAsync(created) is { } gone)
        {
            // Deleted after it was checked and before the deployment was stored: the delete saw no deployment naming it.
            await DeleteAsync(created, CancellationToken.None);
            throw DeletedMeanwhile(created, gone, "nothing was deployed");
        }

        return created;
    }

    /// <summary>Changes the split, shadows, stickiness or plan; a new split without a plan ends a running rollout.</summary>
    public async Task<Deployment> UpdateAsync(Deployment current, DeploymentSpec spec, long? expectedRevision, string actor, CancellationToken cancellationToken)
    {
        CheckRevision(current, expectedRevision);
        var now = _time.GetUtcNow();
        var merged = new DeploymentSpec(
            spec.Traffic ?? current.Traffic,
            spec.Shadow ?? current.Shadow,
            spec.Sticky is { IsOff: true } ? null : spec.Sticky ?? current.Sticky,
            spec.Plan);
        var next = Build(current with { State = DeploymentState.Active, Reason = null }, merged, now);
        if (spec.Plan is null && spec.Traffic is null && current.Plan is not null)
        {
            // Only shadows or stickiness changed: a rollout keeps its plan, step, split and state (running or ended: a
            // promoted deployment's plan no longer fits its one-version split, so it is not checked again).
            next = next with
            {
                Traffic = current.Traffic,
                Plan = current.Plan,
                Step = current.Step,
                StepStartedAt = current.StepStartedAt,
                State = current.State,
                Reason = current.Reason,
                Stable = current.Stable,
                Canary = current.Canary
            };
        }

        await CheckVersionsAsync(next, cancellationToken);
        return await MovedOffIfGoneAsync(
            await WarmAndSaveAsync(next, current, () => SaveAsync(current, next, Event(actor, "update", null, next, now), cancellationToken), cancellationToken));
    }

    /// <summary>Runs a caller's action: promote (optionally a given version), pause, resume or abort.</summary>
    public async Task<Deployment> ActAsync(Deployment current, string action, int? version, long? expectedRevision, string actor, CancellationToken cancellationToken)
    {
        CheckRevision(current, expectedRevision);
        DeploymentRules.CheckTransition(current, action);
        var now = _time.GetUtcNow();
        Deployment next;
        var warm = false;
        switch (action)
        {
            case "pause":
                next = current with { State = DeploymentState.Paused, Reason = "paused by " + actor };
                break;
            case "resume":
                // The step starts over: what was measured before the pause no longer decides.
                next = current with { State = DeploymentState.Active, Reason = null, StepStartedAt = now };
                break;
            case "abort":
                next = current with { State = DeploymentState.Aborted, Traffic = [new TrafficShare(current.Stable, 100)], Reason = "aborted by " + actor, StepStartedAt = now };
                break;
            default:
                var target = version ?? current.Canary ??
                    current.Traffic.Where(t => t.Version != current.Stable).OrderByDescending(t => t.Percent).Select(t => (int?)t.Version).FirstOrDefault() ?? current.Stable;
                next = Promoted(current, target, "promoted by " + actor, now);
                await CheckVersionsAsync(next, cancellationToken);
                warm = true;
                break;
        }

        var saved = warm
            ? await WarmAndSaveAsync(next, current, () => SaveAsync(current, next, Event(actor, action, next.Reason, next, now), cancellationToken), cancellationToken)
            : await SaveAsync(current, next, Event(actor, action, next.Reason, next, now), cancellationToken);
        return action == "promote" ? await MovedOffIfGoneAsync(saved) : saved;
    }

    /// <summary>Applies the analysis loop's decision (actor "system"), audited with its reason; false when another server got there first.</summary>
    public async Task<bool> ApplyAsync(Deployment current, RolloutDecision decision, string reason, CancellationToken cancellationToken)
    {
        if (decision is RolloutDecision.Advance or RolloutDecision.Promote && current.Canary is { } canary
            && await UnservableAsync(current.Model, canary, cancellationToken) is { } why)
        {
            // A canary deleted with force answers 404, which its window did not count as failures: the rollout used to
            // go on and promote a version that no longer exists, so every call failed.
            decision = RolloutDecision.Rollback;
            reason = $"version {canary} failed step {current.Step + 1}: {why}; all traffic back to version {current.Stable}";
        }

        var now = _time.GetUtcNow();
        Deployment next;
        string action;
        switch (decision)
        {
            case RolloutDecision.Rollback:
                next = RolledBack(current, reason, now);
                action = "rollback";
                break;
            case RolloutDecision.Promote:
                next = Promoted(current, current.Canary!.Value, reason, now);
                action = "promote";
                break;
            case RolloutDecision.Advance:
                var step = current.Step + 1;
                next = current with
                {
                    Step = step,
                    Traffic = DeploymentRules.StepTraffic(current.Stable, current.Canary!.Value, current.Plan!.Steps[step]),
                    StepStartedAt = now,
                    Reason = reason,
                };
                action = "step";
                break;
            default:
                return false;
        }

        try
        {
            await SaveAsync(current, next, Event("system", action, reason, next, now), cancellationToken);
        }
        catch (RegistryException e) when (e.Kind is RegistryErrorKind.Conflict or RegistryErrorKind.NotFound)
        {
            await _router.RefreshAsync(force: true, cancellationToken);
            return false;
        }

        if (decision == RolloutDecision.Rollback)
        {
            _router.Metrics.RecordRollback(current.Model, current.Canary ?? current.Stable);
        }

        AuditSystem(current, action, reason, decision == RolloutDecision.Rollback ? LogLevel.Warning : LogLevel.Information, now);
        return true;
    }

    /// <summary>
    /// When the registry deletes <paramref name="version"/> of <paramref name="model"/> (with force when it was in use),
    /// just before the delete (so this server's router has moved while the version still exists: no call and no
    /// readiness check meets it missing) and again after it (a change stored meanwhile), each deployment that routes to
    /// it or shadows it stops, so no call the deployment picks is a 404 and no later
    /// change of it is refused for naming a version that is gone. Its stable version: while a rollout's canary takes
    /// traffic, all traffic moves to the canary (the one other version the deployment serves; it becomes the stable
    /// version, state <c>promoted</c>); otherwise the deployment is deleted and calls take the registry's default version
    /// again. Another version of a split: its share goes to the stable version. A shadow: it is dropped. Each change is
    /// in the history and the audit log as actor <c>system</c>. A rollout's canary that still takes traffic: the rollout
    /// is rolled back at once (all traffic to the stable version), as its analysis would have after counting its 404s.
    /// </summary>
    public async Task VersionDeletedAsync(string model, int version, CancellationToken cancellationToken)
    {
        foreach (var listed in await _store.ListAsync(null, cancellationToken))
        {
            // Compare-and-set against another server's change (its analysis loop, a caller): read again and decide again.
            var current = listed;
            for (var attempt = 0; attempt < 5 && current is not null && current.Model == model; attempt++)
            {
                if (await MoveOffAsync(current, version, cancellationToken))
                {
                    break;
                }

                current = await _store.GetAsync(current.Tenant, current.Name, cancellationToken);
            }
        }
    }

    // VersionDeletedAsync for one deployment; false when another change got there first.
    private async Task<bool> MoveOffAsync(Deployment current, int deleted, CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow();
        string action, reason;
        Deployment next;
        if (current.Stable == deleted)
        {
            if (current.Canary is not { } canary || canary == deleted || !current.Traffic.Any(t => t.Version == canary && t.Percent > 0)
                || await UnservableAsync(current.Model, canary, cancellationToken) is not null)
            {
                await DeleteAsync(current, cancellationToken);
                AuditSystem(current, "delete", $"version {deleted}, its stable version, was deleted with force; calls take the registry's default version again", LogLevel.Warning,
                    now);
                return true;
            }

            (action, reason) = ("promote", $"version {deleted}, the stable version, was deleted with force; all traffic to version {canary}, the canary, at step " +
                $"{current.Step + 1} of its rollout");
            next = Promoted(current, canary, reason, now);
        }
        else if (current.Canary == deleted && current.Traffic.Any(t => t.Version == deleted && t.Percent > 0))
        {
            (action, reason) = ("rollback",
                $"version {deleted}, the canary, was deleted with force at step {current.Step + 1} of its rollout; all traffic back to version {current.Stable}");
            next = RolledBack(current, reason, now) with { Shadow = current.Shadow.Where(s => s.Version != deleted).ToArray() };
        }
        else if (!(current.Traffic.Any(t => t.Version == deleted) || current.Shadow.Any(s => s.Version == deleted)))
        {
            return true; // not named (or a canary that no longer takes traffic)
        }
        else
        {
            var share = current.Traffic.FirstOrDefault(t => t.Version == deleted)?.Percent ?? 0;
            (action, reason) = ("update", share > 0
                ? $"version {deleted} was deleted with force; its {share}% of the traffic to version {current.Stable}, the stable version"
                : $"version {deleted} was deleted with force; no longer in the deployment");
            next = current with
            {
                Traffic = current.Traffic.Where(t => t.Version != deleted).Select(t => t.Version == current.Stable ? t with { Percent = t.Percent + share } : t).ToArray(),
                Shadow = current.Shadow.Where(s => s.Version != deleted).ToArray(),
            };
        }

        try
        {
            await SaveAsync(current, next, Event("system", action, reason, next, now), cancellationToken);
        }
        catch (RegistryException e) when (e.Kind is RegistryErrorKind.Conflict or RegistryErrorKind.NotFound)
        {
            return false;
        }

        if (action == "rollback")
        {
            _router.Metrics.RecordRollback(current.Model, deleted);
        }

        AuditSystem(current, action, reason, LogLevel.Warning, now);
        return true;
    }

    /// <summary>Deletes a deployment: its model's calls take the registry's default version again.</summary>
    public async Task<bool> DeleteAsync(Deployment current, CancellationToken cancellationToken)
    {
        var deleted = await _store.DeleteAsync(current.Tenant, current.Name, cancellationToken);
        await _router.RefreshAsync(force: true, CancellationToken.None); // deleted: see SaveAsync
        return deleted;
    }

    // A change the server made itself (actor "system"): logged, and audited with its reason in the target.
    private void AuditSystem(Deployment current, string action, string reason, LogLevel level, DateTimeOffset now)
    {
        _logger.Log(level, "Deployment {Tenant}/{Name}: {Action}: {Reason}", current.Tenant, current.Name, action, reason);
        var target = $"{current.Tenant}/{current.Name}: {reason}";
        _recorder.Audit(new AuditEntry
        {
            At = now,
            Actor = "system",
            ActorTenant = current.Tenant,
            Action = "deployments." + action,
            Target = target.Length <= 1000 ? target : target[..1000],
            Status = StatusCodes.Status200OK,
            Result = "success",
        });
    }

    // A version the deployment names that the registry no longer serves, once the change is stored, or null. A delete
    // without force that ran while the change was checked and warmed saw no deployment naming the version, and its
    // clean-up (VersionDeletedAsync) ran before the change was stored, so nothing else would move the deployment off.
    private async Task<int?> GoneAsync(Deployment saved)
    {
        foreach (var v in DeploymentRules.LiveVersions(saved).Append(saved.Stable).Distinct())
        {
            if (await UnservableAsync(saved.Model, v, CancellationToken.None) is not null)
            {
                return v;
            }
        }

        return null;
    }

    // A stored change that names a version deleted meanwhile moves off it as a forced delete would, and is answered
    // as a change naming a missing version.
    private async Task<Deployment> MovedOffIfGoneAsync(Deployment saved)
    {
        if (await GoneAsync(saved) is not { } gone)
        {
            return saved;
        }

        await VersionDeletedAsync(saved.Model, gone, CancellationToken.None);
        throw DeletedMeanwhile(saved, gone, "the deployment moved off it (see its history)");
    }

    private static RegistryException DeletedMeanwhile(Deployment deployment, int version, string outcome) => RegistryException.NotFound(
        "version_not_found",
        $"version {version} of model '{ModelKeys.RelativeTo(deployment.Model, deployment.Tenant)}' was deleted while the change was being made; {outcome}");

    // Why the registry can no longer serve the version (deleted, or no longer ready), or null when it can.
    private async Task<string?> UnservableAsync(string model, int version, CancellationToken cancellationToken)
    {
        try
        {
            var found = await _registry.GetVersionAsync(model, version, cancellationToken);
            return found.Status == VersionStatus.Ready ? null : $"it is {found.Status.ToString().ToLowerInvariant()}, not ready";
        }
        catch (RegistryException e) when (e.Kind == RegistryErrorKind.NotFound)
        {
            return "it no longer exists in the registry (deleted)";
        }
    }

    private static Deployment Promoted(Deployment current, int version, string reason, DateTimeOffset now) => current with
    {
        State = DeploymentState.Promoted,
        Traffic = [new TrafficShare(version, 100)],
        Stable = version,
        Canary = null,
        Reason = reason,
        StepStartedAt = now,
    };

    private static Deployment RolledBack(Deployment current, string reason, DateTimeOffset now) => current with
    {
        State = DeploymentState.RolledBack,
        Traffic = [new TrafficShare(current.Stable, 100)],
        Reason = reason,
        StepStartedAt = now,
    };

    private static Deployment Build(Deployment baseline, DeploymentSpec spec, DateTimeOffset now)
    {
        DeploymentRules.CheckTraffic(spec.Traffic);
        var traffic = spec.Traffic!.Select(t => new TrafficShare(t.Version, t.Percent)).ToArray();
        var shadow = spec.Shadow ?? [];
        DeploymentRules.CheckSticky(spec.Sticky);
        int? canary = null;
        var step = 0;
        IReadOnlyList<TrafficShare> live = traffic;
        if (spec.Plan is { } plan)
        {
            canary = DeploymentRules.CheckPlan(plan, traffic);
            var stableOfPlan = DeploymentRules.StableOf(traffic, canary);
            live = DeploymentRules.StepTraffic(stableOfPlan, canary.Value, plan.Steps[0]);
        }

        DeploymentRules.CheckShadow(shadow, live);
        return baseline with
        {
            Traffic = live,
            Shadow = shadow.Select(s => new ShadowTarget(s.Version)).ToArray(),
            Sticky = spec.Sticky,
            Plan = spec.Plan is { } p ? p with { Canary = canary } : null,
            Stable = DeploymentRules.StableOf(traffic, canary),
            Canary = canary,
            Step = step,
            StepStartedAt = now,
            UpdatedAt = now,
        };
    }

    private async Task<Deployment> SaveAsync(Deployment current, Deployment next, DeploymentEvent change, CancellationToken cancellationToken)
    {
        var saved = await _store.UpdateAsync(next with { UpdatedAt = change.At }, current.Revision, change, cancellationToken);

        // Stored: this server's router follows whatever the caller does now. A refresh cut short by the caller's token
        // used to fail the change after its save, and the versions it had warmed were unloaded as if it had failed,
        // just before the next refresh sent them its traffic.
        await _router.RefreshAsync(force: true, CancellationToken.None);
        return saved;
    }

    private static void CheckRevision(Deployment current, long? expected)
    {
        if (expected is { } revision && revision != current.Revision)
        {
            throw RegistryException.Conflict(
                "deployment_changed",
                $"deployment '{current.Name}' is at revision {current.Revision}, not {revision}; read it again and retry",
                new Dictionary<string, object?> { ["revision"] = current.Revision });
        }
    }

    private async Task CheckVersionsAsync(Deployment deployment, CancellationToken cancellationToken)
    {
        var versions = deployment.Traffic.Select(t => t.Version).Concat(deployment.Shadow.Select(s => s.Version)).Append(deployment.Stable).Distinct();
        ModelFormat? format = null;
        foreach (var v in versions)
        {
            ModelVersion version;
            try
            {
                version = await _registry.GetVersionAsync(deployment.Model, v, cancellationToken);
            }
            catch (RegistryException e) when (e.Kind == RegistryErrorKind.NotFound)
            {
                throw RegistryException.NotFound("version_not_found", $"model '{ModelKeys.RelativeTo(deployment.Model, deployment.Tenant)}' has no version {v}");
            }

            if (version.Status != VersionStatus.Ready)
            {
                throw RegistryException.Conflict("version_not_ready",
                    $"version {v} of model '{ModelKeys.RelativeTo(deployment.Model, deployment.Tenant)}' is {version.Status.ToString().ToLowerInvariant()}, not ready");
            }

            if (format is { } f && version.Format != f)
            {
                throw RegistryException.Invalid("invalid_traffic", $"version {v} is {version.Format}, the others {f}: one deployment serves one kind of model");
            }

            format = version.Format;
        }
    }

    /// <summary>
    /// Warms the versions <paramref name="next"/> gives traffic (or shadow copies) that <paramref name="current"/> did
    /// not, then stores the change through <paramref name="save"/>. Those versions are claimed from before the warm-up
    /// until the save has reached the router, so the unloader cannot take one off in between. When the warm-up or the
    /// save fails, the versions loaded only for this change are unloaded again (those already loaded stay).
    /// </summary>
    private async Task<Deployment> WarmAndSaveAsync(Deployment next, Deployment? current, Func<Task<Deployment>> save, CancellationToken cancellationToken)
    {
        var already = current is null ? [] : DeploymentRules.LiveVersions(current).ToHashSet();
        var fresh = DeploymentRules.LiveVersions(next).Where(v => !already.Contains(v)).ToArray();
        var loaded = new List<int>();
        using var claim = _warming.Begin(next.Model, fresh);
        try
        {
            await WarmAsync(next, fresh, loaded, cancellationToken);
            return await save();
        }
        catch
        {
            claim.Dispose();
            await _unloader.UnloadWarmedAsync(next.Model, loaded);
            throw;
        }
    }

    /// <summary>
    /// The hot swap's first half: every version about to get traffic (or a shadow's copies) that had none is loaded
    /// and answers one request before the split changes (tensor models one built from their signature, language
    /// models a short generation); a version that cannot is refused
    /// (409) and the deployment stays as it was. Versions that lose their traffic unload later (<see cref="DeploymentUnloader"/>).
    /// Each version this warm-up finds neither loaded nor loading is added to <paramref name="loaded"/> before its load.
    /// </summary>
    private async Task WarmAsync(Deployment next, IReadOnlyList<int> versions, List<int> loaded, CancellationToken cancellationToken)
    {
        if (!_options.Value.WarmUp || _models is not { } models)
        {
            return;
        }

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(_options.Value.WarmUpTimeoutSeconds));
        foreach (var v in versions)
        {
            var version = await _registry.GetVersionAsync(next.Model, v, cancellationToken);
            var text = v.ToString(CultureInfo.InvariantCulture);
            if (_host?.Status(new ModelKey(next.Model, v))?.State is not (ModelState.Ready or ModelState.Loading))
            {
                loaded.Add(v);
            }

            try
            {
                if (version.Format == ModelFormat.Gguf)
                {
                    // A language model: loaded and asked for a couple of tokens (a server without LLM serving has nothing to warm).
                    if (_textWarmUp is not null)
                    {
                        await _textWarmUp.WarmUpAsync(next.Model, v, timeout.Token);
                    }

                    continue;
                }

                await models.LoadAsync(next.Model, text, timeout.Token);
                var description = await models.DescribeAsync(next.Model, text, timeout.Token);
                using var response = await models.InferAsync(next.Model, text, SampleRequest(description), timeout.Token);
            }
            catch (Exception e) when (e is InferenceException or ModelHostException or Maas.Core.Llm.LlmException ||
            (e is OperationCanceledException && !cancellationToken.IsCancellationRequested))
            {
                throw RegistryException.Conflict(
                    "warm_up_failed",
                    $"version {v} did not load and answer a sample request (within Maas:Deployments:WarmUpTimeoutSeconds = {_options.Value.WarmUpTimeoutSeconds}): {e.Message}; " +
                    $"the deployment is unchanged");
            }
        }
    }

    // One row of zeros (empty strings for text) in each input's shape, dynamic dimensions taken as 1.
    private static InferenceRequest SampleRequest(ModelDescription description) => new()
    {
        Inputs = description.Inputs.Select(input =>
        {
            var shape = input.Shape.Select(d => d < 0 ? 1 : d).ToArray();
            var count = shape.Aggregate(1L, (a, b) => a * b);
            return input.DataType == TensorDataType.Bytes
                ? Tensor.FromStrings(input.Name, shape, Enumerable.Repeat("", (int)count))
                : Tensor.Wrap(input.Name, input.DataType, shape, new byte[count * input.DataType.ElementSize()]);
        }).ToArray(),
    };

    private static DeploymentEvent Event(string actor, string action, string? reason, Deployment next, DateTimeOffset now) => new()
    {
        At = now,
        Actor = actor,
        Action = action,
        Reason = reason,
        State = next.State,
        Traffic = next.Traffic,
    };
}
