using System.Globalization;
using Maas.Core.Formats;
using Maas.Core.Registry;
using Maas.Core.TensorServing;
using Maas.Optimization;
using Microsoft.Extensions.Options;

namespace Maas.Server.TensorInference;

/// <summary>Serving's view of the registry: resolves names, aliases and versions, and merges each model's serving configuration.</summary>
/// <remarks>
/// The registry comes as a <see cref="Lazy{T}"/> (registered next to this catalog): the registry is built with its
/// version-use checks, one of which asks the model host, whose tensor engine is built with this catalog.
/// </remarks>
internal sealed class RegistryModelCatalog(
    Lazy<IModelRegistry> registry,
    IOptions<InferenceOptions> options,
    IOptions<ServingLimits> limits,
    IOptions<OptimizationOptions> optimization,
    ILogger<RegistryModelCatalog> logger) : IServableModelCatalog
{
    private IModelRegistry Registry => registry.Value;

    /// <inheritdoc />
    public async ValueTask<ServableModel> ResolveAsync(string model, string? version, CancellationToken cancellationToken)
    {
        var reference = Reference(model, version);
        try
        {
            var resolved = await Registry.ResolveAsync(reference, cancellationToken);
            if (Optimization.RejectedVersions.Refusal(optimization.Value, resolved.Version) is { } refusal)
            {
                throw InferenceErrors.Invalid(refusal);
            }

            // Only tensor engines serve this protocol: an LLM handed to the model host as a tensor model would be loaded
            // with settings its engine cannot read.
            if (resolved.Version.Format != ModelFormat.Onnx)
            {
                throw InferenceErrors.Invalid(
                    $"model '{RegistryNames.Shorten(model)}' version {resolved.Version.Version} is a {resolved.Version.Format.ToString().ToUpperInvariant()} model, "
                    + $"which the Open Inference Protocol serves only through its generate extension: call it through POST /v2/models/{RegistryNames.Shorten(model)}/generate " +
                        $"or generate_stream, or /v1/chat/completions, /v1/completions or /v1/embeddings");
            }

            return ToServable(resolved.Model, resolved.Version);
        }
        catch (RegistryException ex)
        {
            throw InferenceErrors.FromRegistry(ex);
        }
    }

    /// <inheritdoc />
    public async ValueTask<IReadOnlyList<ServableModel>> ListAsync(CancellationToken cancellationToken)
    {
        var result = new List<ServableModel>();
        for (var offset = 0; ; offset += 500)
        {
            var page = await Registry.ListModelsAsync(new ModelQuery { Format = ModelFormat.Onnx, Limit = 500, Offset = offset }, cancellationToken);
            foreach (var m in page.Models)
            {
                try
                {
                    foreach (var v in await Registry.ListVersionsAsync(m.Key, cancellationToken))
                    {
                        if (v.Format == ModelFormat.Onnx)
                        {
                            result.Add(ToServable(m, v));
                        }
                    }
                }
                catch (RegistryException)
                {
                    // Deleted while we listed.
                }
            }

            if (page.Models.Count < 500)
            {
                return result;
            }
        }
    }

    /// <inheritdoc />
    public async ValueTask<IReadOnlyList<int>> VersionsAsync(string name, CancellationToken cancellationToken)
    {
        try
        {
            return (await Registry.ListVersionsAsync(name, cancellationToken)).Select(v => v.Version).Order().ToArray();
        }
        catch (RegistryException ex)
        {
            throw InferenceErrors.FromRegistry(ex);
        }
    }

    /// <inheritdoc />
    public async ValueTask<string> GetArtifactPathAsync(ServableModel model, CancellationToken cancellationToken)
    {
        var version = await Registry.GetVersionAsync(model.Name, model.Version, cancellationToken);
        return await Registry.GetLocalArtifactPathAsync(version, cancellationToken);
    }

    /// <inheritdoc />
    /// <remarks>
    /// A version registered before class labels were read from ONNX files gets them now, from the file the load used,
    /// into its signature (so the metadata route shows them too); the registry's change refreshes the resolutions that
    /// carry labels to the classification extension. A failure costs the labels, never the load.
    /// </remarks>
    public async ValueTask LoadedAsync(ServableModel model, string path, CancellationToken cancellationToken)
    {
        try
        {
            var version = await Registry.GetVersionAsync(model.Name, model.Version, cancellationToken);
            if (version.ArtifactKey == model.ArtifactKey)
            {
                await Registry.CompleteClassLabelsAsync(version, path, cancellationToken);
            }
        }
        catch (RegistryException ex) when (ex.Kind == RegistryErrorKind.NotFound)
        {
            // Deleted while it loaded: the deletion unloads it.
        }
        catch (Exception ex) when (ex is not OperationCanceledException and not OutOfMemoryException)
        {
            logger.LogWarning(ex, "Reading the class labels of model {Model} version {Version} from its file failed; it serves without them", model.Name, model.Version);
        }
    }

    private static ModelReference Reference(string model, string? version)
    {
        if (version is null)
        {
            return ModelReference.TryParse(model, out var reference)
                ? reference
                : throw InferenceErrors.Invalid($"'{RegistryNames.Shorten(model)}' is not a model reference: use 'model' or 'model:alias'");
        }

        if (!ModelKeys.IsValid(model))
        {
            throw InferenceErrors.Invalid($"'{RegistryNames.Shorten(model)}' is not a model name; with a version in the path give the plain name");
        }

        if (int.TryParse(version, NumberStyles.None, CultureInfo.InvariantCulture, out var number) && number > 0)
        {
            return new ModelReference(model, Version: number);
        }

        if (version.Length > 0 && version.All(char.IsAsciiDigit))
        {
            // Versions count from 1: "0" or a number past int is no version, not an alias to look up.
            throw new InferenceException(InferenceErrorKind.NotFound, $"model '{RegistryNames.Shorten(model)}' has no version {RegistryNames.Shorten(version)}");
        }

        return RegistryNames.IsValidName(version)
            ? new ModelReference(model, Alias: version)
            : throw InferenceErrors.Invalid($"'{RegistryNames.Shorten(version)}' is neither a version number nor an alias");
    }

    private ServableModel ToServable(Model model, ModelVersion version)
    {
        var c = model.ServingConfig;
        var defaults = options.Value.SchedulerDefaults();
        var max = limits.Value;

        // A configuration stored before the maxima were lowered is held to them here, where the scheduler is sized.
        var instances = c.InstanceCount is { } i ? Math.Min(i, max.MaxInstanceCount) : defaults.InstanceCount;
        var threads = c.Threads is { } th ? Math.Min(th, max.MaxThreads) : defaults.ThreadsPerInstance;
        if (c.Threads is not null && (long)instances * threads > max.MaxTotalThreads)
        {
            threads = Math.Max(1, max.MaxTotalThreads / instances);
        }

        var batch = c.MaxBatchSize is { } b ? Math.Min(b, max.MaxBatchSize) : defaults.MaxBatchSize;
        var scheduler = defaults with
        {
            InstanceCount = instances,
            ThreadsPerInstance = threads,
            Providers = c.Providers ?? defaults.Providers,
            MaxBatchSize = batch,
            PreferredBatchSizes = c.PreferredBatchSizes is { } sizes ? [.. sizes.Where(s => s <= Math.Max(batch, 1))] : defaults.PreferredBatchSizes,
            MaxQueueDelay = c.MaxQueueDelayMs is { } d ? TimeSpan.FromMilliseconds(d) : defaults.MaxQueueDelay,
            QueueLimit = c.QueueLimit is > 0 and var q ? Math.Min(q, max.MaxQueueLimit) : defaults.QueueLimit,
            Timeout = c.TimeoutMs is > 0 and var t ? TimeSpan.FromMilliseconds(Math.Min(t, max.MaxTimeoutMs)) : defaults.Timeout,
            QueueTimeBudget = c.QueueTimeBudgetMs is { } budget ? TimeSpan.FromMilliseconds(budget) : defaults.QueueTimeBudget,
        };
        return new ServableModel
        {
            Name = model.Key, // serving keys everything by the model's key: two tenants' "faces" are two models
            Version = version.Version,
            Format = version.Format,
            Scheduler = scheduler,
            LoadAtStart = c.LoadAtStart ?? false,
            Pinned = c.Pinned ?? false,
            SizeBytes = version.SizeBytes,
            ArtifactKey = version.ArtifactKey,
            KeepAlive = c.KeepAliveSeconds is > 0 and var keep ? TimeSpan.FromSeconds(keep) : null,
            Inputs = Tensors(version.Signature.Inputs),
            Outputs = Tensors(version.Signature.Outputs),
            Labels = VersionLabels.Resolve(c, version),
        };
    }

    // Null when the file declares a type the protocol cannot carry; the loaded backend then reports the truth.
    private static TensorMetadata[]? Tensors(IReadOnlyList<TensorSignature>? list)
    {
        if (list is null)
        {
            return null;
        }

        var result = new TensorMetadata[list.Count];
        for (var i = 0; i < list.Count; i++)
        {
            if (!TensorDataTypes.TryParse(list[i].Datatype, out var type))
            {
                return null;
            }

            result[i] = new TensorMetadata(list[i].Name, type, [.. list[i].Shape]);
        }

        return result;
    }
}
