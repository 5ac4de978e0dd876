namespace Maas.Optimization.Gguf;

/// <summary>The built-in passage an importance matrix is gathered from when a job names no dataset text.</summary>
/// <remarks>
/// Written for MaaS and placed in the public domain; deliberately not the held-out passage perplexity is measured on,
/// so the quantisation is not tuned to the text it is judged by.
/// </remarks>
public static class CalibrationText
{
    /// <summary>The passage.</summary>
    public const string Passage = """
        Every spring the river rose over the lower meadow, and every spring the farmer moved his sheep to the high field
        above the mill. The move took a whole morning. His daughter walked ahead with a bucket of oats, rattling it so the
        flock would follow, while he came behind with the dog and a long hazel stick he never used. The lambs ran in
        circles and had to be carried across the ford one by one. By noon the flock was grazing on the slope, and the two
        of them sat on the wall to eat bread and cheese and to count the animals twice, since the first count was never
        right.

        In the village the baker opened at five. He baked rye loaves on Mondays and Thursdays, white bread every day, and
        on Saturdays a sweet plaited loaf with raisins that was sold out before nine. The schoolmaster bought one for his
        class each week and cut it into thirty slices with a ruler, to show the children what a fraction was. Some of them
        learned more arithmetic from that loaf than from any book, and all of them remembered it.

        The railway reached the valley late, long after the towns on the coast had their stations. When the first train
        came, people walked for miles to see it. It was smaller than they expected and much louder. An old woman who had
        never left the parish said it looked like a kettle that had decided to travel, and the phrase stayed in the
        valley for fifty years. Within a decade the mill was grinding grain brought in by rail, the market had doubled, and
        the young men who once would have stayed on the farms were buying tickets to the city.

        Letters came back from the city describing tall buildings, electric trams, and streets that were never dark. Some
        writers promised to return in the summer; a few did, wearing new coats and talking quickly, and went away again
        before the harvest. The farmer kept every letter his son sent in a tin box on the shelf above the stove, and in the
        evenings, when the work was done, his daughter read them aloud while he mended harness by the lamp.

        Numbers mattered in the valley as much as words. The miller kept his accounts in a green ledger: 412 sacks in
        March, 398 in April, 455 in May when the weather turned dry. The postmistress weighed parcels to the nearest ounce,
        and the carpenter measured twice and cut once, as his father had taught him, because timber was dear and mistakes
        were expensive.
        """;
}
