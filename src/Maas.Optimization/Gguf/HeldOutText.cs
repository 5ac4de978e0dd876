namespace Maas.Optimization.Gguf;

/// <summary>The built-in passage perplexity is measured on when a job names no text of its own.</summary>
/// <remarks>Written for MaaS and placed in the public domain: plain English prose about ordinary things.</remarks>
public static class HeldOutText
{
    /// <summary>The passage.</summary>
    public const string Passage = """
        The ferry left the harbour a little after seven, when the fog had lifted from the water but still hung over the
        hills behind the town. On the upper deck an old man sat with a basket of apples on his knees and watched the gulls
        follow the wake. He had made the same crossing every week for thirty years, first to sell fish, later to visit his
        sister, and now simply because he liked the hour it took. The island came into view slowly: first the lighthouse,
        white and narrow, then the church with its square tower, then the row of houses along the quay, each painted a
        different colour so that sailors could tell them apart from far away. A boy ran along the rail counting the boats
        moored in the bay. His mother called him back twice before he listened. When the engine slowed, the smell of
        diesel gave way to the smell of seaweed and bread from the bakery near the landing. The old man stood, lifted his
        basket and waited for the gangway to be lowered. He knew that his sister would be at the end of the pier, wearing
        the blue coat she had owned for as long as he could remember, and that she would ask about the weather on the
        mainland as if it were a foreign country. They would walk together to her kitchen, drink tea that was too strong,
        and talk about the price of coal, the new school teacher and the storm that had broken three windows in the
        spring. In the afternoon he would mend the gate that never quite closed, and in the evening he would take the last
        ferry home, the basket empty, the lights of the town growing larger across the dark water.
        """;
}
