using System.Text;

namespace Maas.Server.Tests.Support;

/// <summary>The small regression table many training tests train on: 40 rows of y = 2x + 1, columns x and y.</summary>
public static class LineCsv
{
    /// <summary>The table as CSV bytes, header first.</summary>
    public static readonly byte[] Bytes = Encoding.UTF8.GetBytes("x,y\n" + string.Concat(Enumerable.Range(0, 40).Select(i => $"{i},{(2 * i) + 1}\n")));
}
