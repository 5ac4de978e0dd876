using Maas.Runtimes.Llama.Serving;

namespace Maas.Runtimes.Llama.Tests;

public sealed class MicroBatchTests
{
    [Fact]
    public void Consecutive_generating_slots_decode_in_one_pass()
    {
        Assert.Equal(1, LlamaMicroBatches.Count([0, 1, 2, 3, 4, 5, 6, 7], [1, 1, 1, 1, 1, 1, 1, 1], 512, unified: false));
    }

    [Fact]
    public void Each_run_of_consecutive_slots_is_a_pass_of_its_own()
    {
        Assert.Equal(3, LlamaMicroBatches.Count([0, 1, 2, 5, 6, 12], [1, 1, 1, 1, 1, 1], 512, unified: false));
    }

    [Fact]
    public void A_prompt_beyond_the_common_length_takes_passes_of_its_own()
    {
        // One token of each, then the rest of slot 2's prompt and slot 3's together, then what is left of slot 3's.
        Assert.Equal(3, LlamaMicroBatches.Count([0, 1, 2, 3], [1, 1, 40, 60], 512, unified: false));

        // Within the micro-batch size: 300 tokens over a 128-token micro-batch.
        Assert.Equal(3, LlamaMicroBatches.Count([4], [300], 128, unified: false));
    }

    [Fact]
    public void A_unified_buffer_cuts_by_size_alone()
    {
        Assert.Equal(1, LlamaMicroBatches.Count([0, 3, 9], [1, 1, 100], 512, unified: true));
        Assert.Equal(2, LlamaMicroBatches.Count([0, 3, 9], [1, 1, 600], 512, unified: true));
    }
}
