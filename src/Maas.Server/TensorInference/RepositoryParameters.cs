namespace Maas.Server.TensorInference;

/// <summary>The model repository extension's load and unload parameters: one rule for REST and gRPC.</summary>
internal static class RepositoryParameters
{
    /// <summary>
    /// Refuses Triton's <c>config</c> override and its <c>file:</c> model files, which have no counterpart here: ignoring
    /// them would load the model with a configuration the caller did not ask for and let it believe otherwise.
    /// </summary>
    public static void CheckSupported(string name)
    {
        if (name == "config" || name.StartsWith("file:", StringComparison.Ordinal))
        {
            throw InferenceErrors.Invalid(
                $"parameter \"{name}\" is not supported: models load from the registry with their own serving configuration (set it with PUT /api/v1/models/{{name}}/config)");
        }
    }
}
