using Maas.Core.Formats.Onnx;

namespace Maas.Runtimes.Onnx.Tests;

/// <summary>Models the tests make with the project's own ONNX writer.</summary>
internal static class TestModels
{
    /// <summary>A chain of <paramref name="steps"/> MatMul nodes sharing one weight: slow enough to cancel mid-run.</summary>
    public static byte[] MatMulChain(int size, int steps)
    {
        var identity = new float[size * size];
        for (var i = 0; i < size; i++)
        {
            identity[(i * size) + i] = 1;
        }

        var writer = new OnnxModelWriter("chain")
            .Input("x", OnnxElementType.Float, size, size)
            .Output("y", OnnxElementType.Float, size, size)
            .Initializer("w", identity, [size, size]);
        var current = "x";
        for (var i = 0; i < steps; i++)
        {
            var next = i == steps - 1 ? "y" : $"h{i}";
            writer.Node("MatMul", [current, "w"], [next]);
            current = next;
        }

        return writer.ToBytes();
    }

    /// <summary>y = x + 1 over a symbolic batch, with metadata: small, for introspection and leak loops.</summary>
    public static OnnxModelWriter AddOne() =>
        new OnnxModelWriter("add_one")
            .Producer("maas-tests", "0.3")
            .Description("adds one")
            .Identify("ai.maas.tests", 3)
            .Metadata("labels", "a,b,c")
            .Metadata("author", "maas")
            .Input("x", OnnxElementType.Float, "batch", 4)
            .Output("y", OnnxElementType.Float, "batch", 4)
            .Initializer("one", [1f], [1])
            .Node("Add", ["x", "one"], ["y"]);

    /// <summary>Bytes that look like nothing ONNX Runtime can load.</summary>
    public static byte[] Garbage() => "this is not an onnx model at all"u8.ToArray();

    /// <summary>A model whose graph uses an operator no domain defines.</summary>
    public static byte[] UnknownOperator() =>
        new OnnxModelWriter()
            .Input("x", OnnxElementType.Float, 1)
            .Output("y", OnnxElementType.Float, 1)
            .Node("NoSuchOperator", ["x"], ["y"])
            .ToBytes();

    /// <summary>Reads a binary PPM (P6, 8-bit) into RGB bytes.</summary>
    public static (int Width, int Height, byte[] Rgb) ReadPpm(string path)
    {
        var bytes = File.ReadAllBytes(path);
        var position = 0;
        string Token()
        {
            while (true)
            {
                while (char.IsWhiteSpace((char)bytes[position]))
                {
                    position++;
                }

                if (bytes[position] != '#')
                {
                    break;
                }

                while (bytes[position] != '\n')
                {
                    position++;
                }
            }

            var start = position;
            while (!char.IsWhiteSpace((char)bytes[position]))
            {
                position++;
            }

            return System.Text.Encoding.ASCII.GetString(bytes, start, position - start);
        }

        Assert.Equal("P6", Token());
        var width = int.Parse(Token(), System.Globalization.CultureInfo.InvariantCulture);
        var height = int.Parse(Token(), System.Globalization.CultureInfo.InvariantCulture);
        Assert.Equal("255", Token());
        position++; // the single whitespace byte before the pixels
        return (width, height, bytes[position..(position + (width * height * 3))]);
    }
}
