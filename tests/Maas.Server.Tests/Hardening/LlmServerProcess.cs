using Maas.Core.Formats.Gguf;
using Maas.Runtimes.Llama;
using Maas.Server.Tests.OpenAi;
using Maas.Server.Tests.Support;

namespace Maas.Server.Tests.Hardening;

/// <summary>
/// The server as a child process serving a generated model as "gen": a request that brings the process down shows
/// as a dead child (and its last output), not as a dead test host.
/// </summary>
public sealed class LlmServerProcess : IAsyncLifetime
{
    private readonly TempDirectory _data = new("maas-hardening-data");
    private readonly TempDirectory _files = new("maas-hardening-models");

    /// <summary>The running server.</summary>
    public MaasServerProcess Server { get; private set; } = null!;

    /// <summary>The generated model's path (the tests read its vocabulary).</summary>
    public string ModelPath => Path.Combine(_files.Path, "gen.gguf");

    /// <summary>The generated model's end-of-generation tokens.</summary>
    public IReadOnlyList<int> EndTokens { get; private set; } = [];

    /// <summary>The generated model's tokens whose text begins with <paramref name="prefix"/>.</summary>
    public IReadOnlyList<int> TokensStartingWith(string prefix)
    {
        using var model = LlamaModel.Load(ModelPath);
        return Enumerable.Range(0, model.VocabularySize)
            .Where(t => System.Text.Encoding.UTF8.GetString(model.Tokenizer.GetPieceBytes(t)).StartsWith(prefix, StringComparison.Ordinal))
            .ToList();
    }

    /// <inheritdoc />
    public async Task InitializeAsync()
    {
        GgufLlamaModelFactory.Write(ModelPath, new GgufLlamaModelOptions { Name = "maas-test-llm", Seed = 7 });
        using (var model = LlamaModel.Load(ModelPath))
        {
            EndTokens = Enumerable.Range(0, model.VocabularySize).Where(model.Tokenizer.IsEndOfGeneration).ToList();
        }

        Server = await MaasServerProcess.StartAsync(_data.Path, LlmServerFixture.Settings);
        await LlmServerFixture.RegisterAsync(Server.Client, "gen", await File.ReadAllBytesAsync(ModelPath), "gen.gguf");
    }

    /// <inheritdoc />
    public async Task DisposeAsync()
    {
        await Server.DisposeAsync();
        _data.Dispose();
        _files.Dispose();
    }
}

/// <summary>The hardening tests that share one child server process.</summary>
[CollectionDefinition(Name)]
public sealed class LlmServerProcessCollection : ICollectionFixture<LlmServerProcess>
{
    /// <summary>The collection's name.</summary>
    public const string Name = "hardening-llm-process";
}
