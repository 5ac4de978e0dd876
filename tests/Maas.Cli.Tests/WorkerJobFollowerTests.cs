using System.Text.Json;
using Maas.Cli.Hosting;
using Maas.Client.Jobs;

namespace Maas.Cli.Tests;

/// <summary>How followed jobs' numbers and events read on a line.</summary>
public sealed class WorkerJobFollowerTests
{
    [Theory]
    [InlineData(0.0, "0")]
    [InlineData(0.25, "0.25")]
    [InlineData(2093.131463, "2093.1315")]
    [InlineData(0.0001, "0.0001")]
    [InlineData(0.00001, "1E-5")] // a gate threshold: it read "0", so "max_abs_diff 0.0001 > 0" named a check that looked passed
    [InlineData(5.698204040527344E-05, "5.698E-5")] // an output difference: it read "0.0001"
    [InlineData(-2.1854953118472894E-05, "-2.185E-5")] // a perplexity change: it read "-0"
    public void Numbers_close_to_zero_keep_their_significant_digits(double value, string expected) =>
        Assert.Equal(expected, WorkerJobFollower.Number(value));

    [Theory]
    [InlineData("""{"status": "running", "worker": "host:1:ab", "attempt": 2}""", "status running (worker host:1:ab, attempt 2)")]
    [InlineData("""{"status": "failed", "error": {"code": "cannot_measure", "message": "the source model does not run"}}""",
        "status failed: cannot_measure: the source model does not run")]
    [InlineData("""{"status": "failed", "reason": "worker_lost"}""", "status failed: worker_lost")]
    [InlineData("""{"status": "succeeded", "error": null}""", "status succeeded")]
    public void A_status_event_reads_as_the_status_and_why(string data, string expected)
    {
        string? stage = null;
        var line = WorkerJobFollower.Line(new JobEvent(1, DateTimeOffset.UnixEpoch, "status", JsonDocument.Parse(data).RootElement), ref stage);
        Assert.Equal($"00:00:00 {expected}", line);
    }

    [Fact]
    public void A_fine_tuning_epoch_reads_once_from_its_metrics_not_again_from_its_message()
    {
        string? stage = null;
        JobEvent Event(string type, string data) => new(1, DateTimeOffset.UnixEpoch, type, JsonDocument.Parse(data).RootElement);

        var metrics = WorkerJobFollower.Line(Event("fine_tuning.metrics", """{"epoch": 1, "step": 4, "train_loss": 2.5}"""), ref stage);
        var epochMessage = WorkerJobFollower.Line(Event("fine_tuning.message", """{"message": "Epoch 1/2: training loss 2.5000", "epoch": 1}"""), ref stage);
        var otherMessage = WorkerJobFollower.Line(Event("fine_tuning.message", """{"message": "Cancellation requested"}"""), ref stage);

        Assert.Equal("00:00:00 epoch 1: step 4, train_loss 2.5", metrics);
        Assert.Null(epochMessage);
        Assert.Equal("00:00:00 Cancellation requested", otherMessage);
    }

    [Theory]
    [InlineData("""{"trial": 2, "trials": 8, "status": "succeeded"}""", "3 of 8")]
    [InlineData("""{"trial": 0, "status": "failed"}""", "1")]
    [InlineData("""{"trial": "x"}""", "x")]
    public void Trials_are_counted_from_one_with_their_total(string data, string expected) =>
        Assert.Equal(expected, WorkerJobFollower.TrialNumber(JsonDocument.Parse(data).RootElement));

    [Fact]
    public void Fields_are_lines_of_their_own_width_with_the_labels_aligned()
    {
        var fields = new FieldList();
        fields.Add("name", "cls");
        fields.Add("description", null);
        fields.Add("latest version", 2);
        fields.Add("tags", new[] { "a", "b" });
        Assert.Equal(["name            cls", "description", "latest version  2", "tags            a, b"], fields.Lines());
    }

    [Fact]
    public async Task Interrupting_a_follow_says_the_job_goes_on_and_how_to_follow_or_cancel_it()
    {
        var root = new System.CommandLine.RootCommand { CliHost.Json };
        var parse = root.Parse(["--json"]);
        using var client = new Maas.Client.MaasClient(new Uri("http://127.0.0.1:9"), "unused");
        using var interrupt = new CancellationTokenSource();
        var polls = 0;
        var reader = new WorkerJobFollower.Reader<string>(
            _ =>
            {
                if (++polls == 2)
                {
                    interrupt.Cancel(); // Ctrl+C while the job runs
                }

                return Task.FromResult("running");
            },
            _ => false,
            _ => 50,
            _ => "");

        var e = await Assert.ThrowsAsync<CliException>(() => WorkerJobFollower.FollowAsync(parse, client, "opt_123", reader, interrupt.Token));

        Assert.Equal(ExitCodes.Interrupted, e.ExitCode);
        Assert.Equal("interrupted", e.Code);
        Assert.Contains("job opt_123, which goes on on the server: 'maas jobs logs opt_123' follows it again, 'maas jobs cancel opt_123' stops it", e.Message,
            StringComparison.Ordinal);
    }
}
