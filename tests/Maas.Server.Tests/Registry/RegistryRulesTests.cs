using Maas.Core.Registry;
using Maas.Core.Registry.Import;

namespace Maas.Server.Tests.Registry;

/// <summary>The registry's rules on their own: names, references, hf:// resolution, source checksums.</summary>
public sealed class RegistryRulesTests
{
    [Theory]
    [InlineData("resnet50", true)]
    [InlineData("a", true)]
    [InlineData("llama-3.1_8b", true)]
    [InlineData("0day", true)]
    [InlineData("Upper", false)]
    [InlineData("-x", false)]
    [InlineData(".x", false)]
    [InlineData("a..b", false)]
    [InlineData("a/b", false)]
    [InlineData("", false)]
    [InlineData("a b", false)]
    public void Names_follow_the_pattern(string name, bool valid)
    {
        Assert.Equal(valid, RegistryNames.IsValidName(name));
        Assert.True(RegistryNames.IsValidName(new string('a', 64)));
        Assert.False(RegistryNames.IsValidName(new string('a', 65)));
    }

    [Theory]
    [InlineData("model.onnx", true)]
    [InlineData("weights/layer 0.bin", true)]
    [InlineData("../x", false)]
    [InlineData("/etc/passwd", false)]
    [InlineData("a\\b", false)]
    [InlineData("a//b", false)]
    [InlineData(".hidden", false)]
    [InlineData("a/./b", false)]
    public void File_paths_stay_inside_the_version(string path, bool valid) => Assert.Equal(valid, RegistryNames.IsValidFilePath(path));

    [Theory]
    [InlineData("llama", "llama", null, null)]
    [InlineData("llama:production", "llama", "production", null)]
    [InlineData("llama/versions/3", "llama", null, 3)]
    public void References_parse(string text, string model, string? alias, int? version)
    {
        var reference = ModelReference.Parse(text);
        Assert.Equal(new ModelReference(model, alias, version), reference);
        Assert.Equal(text, reference.ToString());
    }

    [Theory]
    [InlineData("")]
    [InlineData("llama:")]
    [InlineData("llama/versions/0")]
    [InlineData("llama/versions/x")]
    [InlineData("llama/aliases/prod")]
    [InlineData("Llama")]
    [InlineData("a:b:c")]
    public void Bad_references_are_refused(string text)
    {
        Assert.False(ModelReference.TryParse(text, out _));
        Assert.Equal("invalid_reference", Assert.Throws<RegistryException>(() => ModelReference.Parse(text)).Code);
    }

    [Fact]
    public void Hugging_face_references_resolve_to_the_hub_and_only_the_hub_gets_the_token()
    {
        var options = new RegistryOptions { HuggingFaceToken = "secret" };
        var main = ImportSource.Resolve("hf://TheBloke/Llama-2-7B-GGUF/llama-2-7b.Q4_K_M.gguf", options);
        Assert.Equal("https://huggingface.co/TheBloke/Llama-2-7B-GGUF/resolve/main/llama-2-7b.Q4_K_M.gguf", main.Url.ToString());
        Assert.Equal("secret", main.Token);
        Assert.Equal("llama-2-7b.Q4_K_M.gguf", main.SuggestedFileName);

        var pinned = ImportSource.Resolve("hf://org/repo@v1.0/sub/dir/model.onnx", options);
        Assert.Equal("https://huggingface.co/org/repo/resolve/v1.0/sub/dir/model.onnx", pinned.Url.ToString());

        var elsewhere = ImportSource.Resolve("https://example.com/files/model.gguf", options);
        Assert.Null(elsewhere.Token);
        Assert.Equal("model.gguf", elsewhere.SuggestedFileName);

        foreach (var bad in new[] { "hf://owner/repo", "hf://owner//file", "file:///etc/passwd", "ftp://x/y", "not a url" })
        {
            Assert.Equal("invalid_url", Assert.Throws<RegistryException>(() => ImportSource.Resolve(bad, options)).Code);
        }
    }

    [Fact]
    public void Sources_vouch_for_content_with_linked_etags_and_digests()
    {
        var sha = new string('a', 64);
        var bytes = Convert.FromHexString(sha);
        using var linked = new HttpResponseMessage();
        linked.Headers.TryAddWithoutValidation("X-Linked-Etag", $"\"{sha.ToUpperInvariant()}\"");
        Assert.Equal(sha, SourceChecksum.FromHeaders(linked));

        using var digest = new HttpResponseMessage();
        digest.Headers.TryAddWithoutValidation("Digest", $"md5=xyz, SHA-256={Convert.ToBase64String(bytes)}");
        Assert.Equal(sha, SourceChecksum.FromHeaders(digest));

        using var repr = new HttpResponseMessage();
        repr.Headers.TryAddWithoutValidation("Repr-Digest", $"sha-256=:{Convert.ToBase64String(bytes)}:");
        Assert.Equal(sha, SourceChecksum.FromHeaders(repr));

        using var none = new HttpResponseMessage();
        none.Headers.TryAddWithoutValidation("ETag", "\"abc\"");
        Assert.Null(SourceChecksum.FromHeaders(none));
    }

    [Fact]
    public void Name_lists_say_when_they_are_cut_or_empty()
    {
        Assert.Equal("none", RegistryNames.FirstOf([]));
        Assert.Equal("a, b", RegistryNames.FirstOf(["a", "b"]));
        Assert.Equal("a, b", RegistryNames.FirstOf(["a", "b"], shown: 2));
        Assert.Equal("a, b and 1 more", RegistryNames.FirstOf(["a", "b", "c"], shown: 2));
        var columns = Enumerable.Range(0, 23).Select(i => $"c{i}").ToArray();
        Assert.EndsWith("c19 and 3 more", RegistryNames.FirstOf(columns), StringComparison.Ordinal);
    }

    [Fact]
    public void Serving_configuration_is_validated_field_by_field()
    {
        Assert.Empty(new ServingConfig { InstanceCount = 2, MaxBatchSize = 8, PreferredBatchSizes = [2, 4, 8] }.Validate());
        var errors = new ServingConfig { InstanceCount = 0, MaxBatchSize = 4, PreferredBatchSizes = [4, 2, 16], MaxQueueDelayMs = -1, Threads = 0 }.Validate();
        Assert.Contains(errors, e => e.StartsWith("instance_count", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Contains("ascending", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("preferred_batch_sizes[2]", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("max_queue_delay_ms", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("threads", StringComparison.Ordinal));
    }

    [Fact]
    public void Execution_providers_must_be_known_unique_and_end_with_cpu_if_listed()
    {
        Assert.Empty(new ServingConfig { Providers = ["tensorrt", "cuda", "cpu"] }.Validate());
        Assert.Empty(new ServingConfig { Providers = ["cuda"] }.Validate());
        Assert.Contains("is not an execution provider", Assert.Single(new ServingConfig { Providers = ["CUDA"] }.Validate()), StringComparison.Ordinal);
        Assert.Contains("listed twice", Assert.Single(new ServingConfig { Providers = ["cuda", "cuda"] }.Validate()), StringComparison.Ordinal);
        Assert.Contains("must come last", Assert.Single(new ServingConfig { Providers = ["cpu", "cuda"] }.Validate()), StringComparison.Ordinal);
        Assert.Contains("at least one", Assert.Single(new ServingConfig { Providers = [] }.Validate()), StringComparison.Ordinal);
    }
}
