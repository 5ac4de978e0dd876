using System.Buffers.Binary;
using System.Formats.Tar;
using System.Globalization;
using System.IO.Compression;
using System.Text;
using System.Text.Json;
using Maas.Core.Datasets.Readers;
using Maas.Core.Registry;

namespace Maas.Core.Datasets;

/// <summary>Reads CSV, TSV, JSON Lines, Parquet, IDX and image-folder files into a <see cref="DatasetTable"/>, inferring column types.</summary>
/// <remarks>Every error names the line (text formats) or the archive entry and record (IDX) so the caller can fix the file.</remarks>
public static class DatasetParser
{
    private static readonly string[] MissingTokens = ["", "na", "n/a", "null", "nan"];

    /// <summary>
    /// Parses <paramref name="content"/> as <paramref name="format"/>; <paramref name="gzip"/> decompresses it first. An
    /// archive (<see cref="DatasetFormat.Idx"/> or <see cref="DatasetFormat.ImageFolder"/>) is read as whichever its
    /// entries are; the table's <see cref="DatasetTable.DetectedFormat"/> says which.
    /// </summary>
    /// <exception cref="DatasetFormatException">The file is not what its format says (the message names the line or record).</exception>
    /// <exception cref="DatasetTooLargeException">The file expands beyond <see cref="DatasetReadOptions.MaxDecompressedBytes"/>.</exception>
    public static DatasetTable Parse(Stream content, DatasetFormat format, bool gzip, DatasetReadOptions? options = null)
    {
        options ??= new DatasetReadOptions();
        var budget = new DecompressionBudget(options.MaxDecompressedBytes);
        var archive = format is DatasetFormat.Idx or DatasetFormat.ImageFolder;
        var origin = content.CanSeek ? content.Position : -1;
        var expanded = gzip && !archive ? new BoundedReadStream(new GZipStream(content, CompressionMode.Decompress, leaveOpen: true), budget, hash: origin >= 0) : null;
        var input = expanded ?? (Stream)content;
        try
        {
            var table = format switch
            {
                DatasetFormat.Csv => ParseDelimited(input, ',', options),
                DatasetFormat.Tsv => ParseDelimited(input, '\t', options),
                DatasetFormat.JsonLines => ParseJsonLines(input, options),
                DatasetFormat.Parquet => ParquetDatasetReader.Read(input, budget, options),
                _ => ParseArchive(input, gzip, options, budget),
            };

            CheckWhole(content, origin, expanded);
            return table;
        }
        catch (DatasetFormatException) when (expanded is not null)
        {
            // A cut in the middle of a row reads as a short last row: say what is wrong with the file, not with that row.
            CheckWhole(content, origin, expanded);
            throw;
        }
        catch (InvalidDataException e)
        {
            throw new DatasetFormatException($"the file is not valid {(gzip ? "gzip" : "archive")} data: {e.Message}");
        }
        finally
        {
            expanded?.Dispose();
        }
    }

    // gzip that stops early ends quietly; its trailer says whether the rows read were all of them, against the CRC-32 kept
    // while they were read (the file is expanded once more only for members joined together: where the last one starts
    // in the expanded data is known only from the trailer).
    private static void CheckWhole(Stream content, long origin, BoundedReadStream? expanded)
    {
        if (expanded is not null && origin >= 0)
        {
            expanded.CopyTo(Stream.Null);
            GzipIntegrity.Check(content, origin, expanded.Total, expanded.Crc32, "the file");
        }
    }

    /// <summary>True when a text cell means "no value".</summary>
    public static bool IsMissing(string? text) => text is null || MissingTokens.Contains(text.Trim().ToLowerInvariant());

    // ---- CSV / TSV ----

    private static DatasetTable ParseDelimited(Stream input, char separator, DatasetReadOptions options)
    {
        using var reader = DatasetText.Open(input);
        var records = new DelimitedReader(reader, separator, options.MaxFieldBytes, options.MaxRowBytes);
        string[]? header;
        try
        {
            header = records.Next(0, out _)?.ToArray();
        }
        catch (DecoderFallbackException)
        {
            throw DatasetText.NotText(reader, 1);
        }

        // Only a missing or blank first line is an empty file; a header of blank names (",,") is a header without names.
        if (header is null || (header.Length == 1 && string.IsNullOrWhiteSpace(header[0])))
        {
            throw new DatasetFormatException("line 1: the file is empty; it needs a header row naming the columns");
        }

        var names = CheckHeader(header.Select(h => h.Trim()).ToArray(), options.MaxColumns);
        var cells = new List<string?[]>();
        while (true)
        {
            List<string>? fields;
            int line;
            try
            {
                fields = records.Next(cells.Count + 1, out line);
            }
            catch (DecoderFallbackException)
            {
                throw DatasetText.NotText(reader, records.Line);
            }

            if (fields is null)
            {
                break;
            }

            if (fields.Count == 1 && fields[0].Length == 0)
            {
                continue; // A blank line (often the last one).
            }

            if (fields.Count != names.Length)
            {
                throw new DatasetFormatException($"line {line}: {fields.Count} fields where the header has {names.Length}");
            }

            cells.Add(fields.ToArray());
        }

        return Infer(names, cells.Select(r => r.Select(c => (Cell?)(c is null ? null : new Cell(CellKind.Text, c))).ToArray()).ToList());
    }

    private static string[] CheckHeader(string[] names, int maxColumns)
    {
        if (names.Length > maxColumns)
        {
            throw new DatasetFormatException($"line 1: {names.Length} columns, over the limit of {maxColumns} ({DatasetOptions.Section}:MaxColumns)");
        }

        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < names.Length; i++)
        {
            if (names[i].Length == 0)
            {
                throw new DatasetFormatException($"line 1: column {i + 1} has no name");
            }

            if (!seen.Add(names[i]))
            {
                throw new DatasetFormatException($"line 1: column name '{names[i]}' appears twice");
            }
        }

        return names;
    }

    // RFC 4180 fields: quotes around a field allow separators, newlines and doubled quotes inside it. A field or a row
    // over its limit stops the reading there: no more of it is buffered.
    private sealed class DelimitedReader(TextReader reader, char separator, int maxFieldBytes, int maxRowBytes)
    {
        public int Line { get; private set; } = 1;

        // row: 0 for the header, else the data row's number (for messages).
        public List<string>? Next(int row, out int startLine)
        {
            startLine = Line;
            var c = reader.Read();
            if (c < 0)
            {
                return null;
            }

            var fields = new List<string>();
            var field = new StringBuilder();
            var fieldBytes = 0L;
            var rowBytes = 0L;
            var quoted = false;
            var wasQuoted = false;
            while (true)
            {
                if (c < 0)
                {
                    if (quoted)
                    {
                        throw new DatasetFormatException($"line {startLine}: a quoted field is not closed before the end of the file");
                    }

                    fields.Add(field.ToString());
                    return fields;
                }

                var ch = (char)c;
                if (!quoted && ch is '\n' or '\r')
                {
                    // CRLF, LF, or a lone CR (classic Mac line ends, as Excel for Mac still writes "CSV (Macintosh)"):
                    // read as LF, a file of CR-ended lines was one header row of glued-together names.
                    if (ch == '\r' && reader.Peek() == '\n')
                    {
                        reader.Read();
                    }

                    Line++;
                    fields.Add(field.ToString());
                    return fields;
                }

                // Every character of the record but its line end counts toward the row; the field's own, toward the field.
                var bytes = Utf8Length(ch);
                rowBytes += bytes;
                if (rowBytes > maxRowBytes)
                {
                    throw RowTooLong(startLine, row, maxRowBytes);
                }

                if (quoted)
                {
                    if (ch == '"')
                    {
                        if (reader.Peek() == '"')
                        {
                            reader.Read();
                            rowBytes++;
                            fieldBytes++;
                            field.Append('"');
                        }
                        else
                        {
                            quoted = false;
                        }
                    }
                    else
                    {
                        if (ch == '\n')
                        {
                            Line++;
                        }

                        fieldBytes += bytes;
                        field.Append(ch);
                    }
                }
                else if (ch == '"' && field.Length == 0 && !wasQuoted)
                {
                    quoted = true;
                    wasQuoted = true;
                }
                else if (ch == separator)
                {
                    fields.Add(field.ToString());
                    field.Clear();
                    fieldBytes = 0;
                    wasQuoted = false;
                }
                else if (wasQuoted)
                {
                    throw new DatasetFormatException($"line {Line}: text after the closing quote of field {fields.Count + 1}");
                }
                else
                {
                    fieldBytes += bytes;
                    field.Append(ch);
                }

                if (fieldBytes > maxFieldBytes)
                {
                    throw FieldTooLong(startLine, row, $"field {fields.Count + 1}", maxFieldBytes);
                }

                if (rowBytes > maxRowBytes)
                {
                    throw RowTooLong(startLine, row, maxRowBytes); // a doubled quote counted after the check above
                }

                c = reader.Read();
            }
        }
    }

    // The bytes a UTF-16 code unit takes in UTF-8: a surrogate pair's two halves make its four.
    private static int Utf8Length(char ch) => ch switch
    {
        < '\u0080' => 1,
        < '\u0800' => 2,
        _ when char.IsSurrogate(ch) => 2,
        _ => 3,
    };

    private static long Utf8Length(string text)
    {
        long total = 0;
        foreach (var ch in text)
        {
            total += Utf8Length(ch);
        }

        return total;
    }

    // "line 7 (row 6)", or "line 1 (the header)"; the details carry the same for clients.
    private static string Where(int line, int row) => row == 0 ? $"line {line} (the header)" : $"line {line} (row {row})";

    private static DatasetFormatException FieldTooLong(int line, int row, string what, int limit) => new(
        $"{Where(line, row)}: {what} is longer than the limit of {limit} bytes ({DatasetOptions.Section}:MaxFieldBytes)",
        LimitDetails("MaxFieldBytes", limit, line, row));

    private static DatasetFormatException RowTooLong(int line, int row, int limit) => new(
        $"{Where(line, row)}: the row is longer than the limit of {limit} bytes ({DatasetOptions.Section}:MaxRowBytes)",
        LimitDetails("MaxRowBytes", limit, line, row));

    private static Dictionary<string, object?> LimitDetails(string setting, int limit, int line, int row) => new()
    {
        ["setting"] = $"{DatasetOptions.Section}:{setting}",
        ["limit"] = limit,
        ["line"] = line,
        ["row"] = row,
    };

    // ---- JSON Lines ----

    private static readonly JsonDocumentOptions NoDuplicateKeys = new() { AllowDuplicateProperties = false };

    private static DatasetTable ParseJsonLines(Stream input, DatasetReadOptions options)
    {
        using var reader = DatasetText.Open(input);
        var columns = new JsonColumns(options);
        var rows = new List<Cell?[]>();
        var lineNumber = 0;
        var line = new StringBuilder();
        while (true)
        {
            bool more;
            try
            {
                more = ReadLine(reader, line, options.MaxRowBytes, lineNumber + 1, rows.Count + 1);
            }
            catch (DecoderFallbackException)
            {
                throw DatasetText.NotText(reader, lineNumber + 1);
            }

            if (!more)
            {
                break;
            }

            lineNumber++;
            if (IsBlank(line))
            {
                continue;
            }

            JsonDocument document;
            try
            {
                // A key given twice would keep one of its values without a word.
                document = JsonDocument.Parse(line.ToString(), NoDuplicateKeys);
            }
            catch (JsonException e)
            {
                throw new DatasetFormatException($"line {lineNumber}: not valid JSON ({e.Message.Split(" Path:")[0]})");
            }
            catch (InvalidOperationException e)
            {
                throw NotText(lineNumber, e); // the duplicate-key check reads every key
            }

            using (document)
            {
                if (document.RootElement.ValueKind != JsonValueKind.Object)
                {
                    throw new DatasetFormatException($"line {lineNumber}: each line must be a JSON object, not {document.RootElement.ValueKind.ToString().ToLowerInvariant()}");
                }

                var row = new Cell?[Math.Max(columns.Names.Count, 4)];
                try
                {
                    ReadJsonLine(document.RootElement, lineNumber, rows.Count + 1, columns, ref row);
                }
                catch (InvalidOperationException e)
                {
                    throw NotText(lineNumber, e);
                }

                rows.Add(row);
            }
        }

        var names = columns.Names;
        if (names.Count == 0)
        {
            throw new DatasetFormatException("line 1: the file has no JSON objects with keys");
        }

        // Rows read before a key first appeared are shorter: pad them (the key is missing there).
        var padded = rows.Select(r => r.Length == names.Count ? r : r.Take(names.Count).Concat(Enumerable.Repeat<Cell?>(null, Math.Max(0, names.Count - r.Length))).ToArray())
            .ToList();
        return Infer(names.ToArray(), padded);
    }

    // One line into line (cleared first), as TextReader.ReadLine splits them (LF, CRLF or a lone CR), but no longer than
    // the row limit: reading stops there. False at the end of the file.
    private static bool ReadLine(TextReader reader, StringBuilder line, int maxRowBytes, int lineNumber, int row)
    {
        line.Clear();
        var c = reader.Read();
        if (c < 0)
        {
            return false;
        }

        long bytes = 0;
        while (c >= 0 && c is not ('\n' or '\r'))
        {
            var ch = (char)c;
            bytes += Utf8Length(ch);
            if (bytes > maxRowBytes)
            {
                throw RowTooLong(lineNumber, row, maxRowBytes);
            }

            line.Append(ch);
            c = reader.Read();
        }

        if (c == '\r' && reader.Peek() == '\n')
        {
            reader.Read();
        }

        return true;
    }

    private static bool IsBlank(StringBuilder line)
    {
        foreach (var chunk in line.GetChunks())
        {
            foreach (var ch in chunk.Span)
            {
                if (!char.IsWhiteSpace(ch))
                {
                    return false;
                }
            }
        }

        return true;
    }

    // The columns of a JSON Lines file as its keys name them: trimmed of surrounding white space as a CSV header's names
    // are (unless a stored version is read back under its untrimmed names), so " a" and "a" are one column.
    private sealed class JsonColumns(DatasetReadOptions options)
    {
        private readonly Dictionary<string, int> _index = new(StringComparer.Ordinal);
        private readonly List<int> _lastLine = [];

        public List<string> Names { get; } = [];

        public DatasetReadOptions Options { get; } = options;

        // The column of key (adding it when new); a second key of one line that names the same column is refused.
        public int Of(string key, int lineNumber)
        {
            var name = Options.TrimColumnNames ? key.Trim() : key;
            if (!_index.TryGetValue(name, out var column))
            {
                if (Names.Count >= Options.MaxColumns)
                {
                    throw new DatasetFormatException($"line {lineNumber}: more than {Options.MaxColumns} distinct keys ({DatasetOptions.Section}:MaxColumns)");
                }

                column = Names.Count;
                _index[name] = column;
                Names.Add(name);
                _lastLine.Add(0);
            }

            if (_lastLine[column] == lineNumber)
            {
                throw new DatasetFormatException(
                    $"line {lineNumber}: key '{RegistryNames.Shorten(name)}' appears twice (keys are trimmed of surrounding spaces, as CSV column names are)");
            }

            _lastLine[column] = lineNumber;
            return column;
        }
    }

    // An escaped lone surrogate ("\ud800") is valid JSON but no text: reading it as a key or a string throws.
    private static DatasetFormatException NotText(int lineNumber, InvalidOperationException e) =>
        new($"line {lineNumber}: a key or string cannot be read as text ({e.Message})");

    // One JSON Lines object into its row, adding the keys seen for the first time as columns.
    private static void ReadJsonLine(JsonElement line, int lineNumber, int rowNumber, JsonColumns columns, ref Cell?[] row)
    {
        var maxFieldBytes = columns.Options.MaxFieldBytes;
        foreach (var property in line.EnumerateObject())
        {
            if (Utf8Length(property.Name) > maxFieldBytes)
            {
                throw FieldTooLong(lineNumber, rowNumber, $"key '{RegistryNames.Shorten(property.Name)}'", maxFieldBytes);
            }

            // As a CSV header: a column needs a name to be picked as a label or feature.
            if (property.Name.Trim().Length == 0)
            {
                throw new DatasetFormatException($"line {lineNumber}: a key has no name");
            }

            // A number past a double's range would otherwise be stored as missing without a word.
            if (property.Value.ValueKind == JsonValueKind.Number && !TryNumber(property.Value.GetRawText(), out _))
            {
                throw new DatasetFormatException($"line {lineNumber}: key '{RegistryNames.Shorten(property.Name)}' holds {RegistryNames.Shorten(property.Value.GetRawText())}, " +
                    $"a number outside the range of a double");
            }

            var column = columns.Of(property.Name, lineNumber);

            if (column >= row.Length)
            {
                Array.Resize(ref row, Math.Max(column + 1, row.Length * 2));
            }

            var cell = property.Value.ValueKind switch
            {
                JsonValueKind.Number => new Cell(CellKind.Number, property.Value.GetRawText()),
                JsonValueKind.String => new Cell(CellKind.Text, property.Value.GetString()!),
                JsonValueKind.True => new Cell(CellKind.Boolean, "true"),
                JsonValueKind.False => new Cell(CellKind.Boolean, "false"),
                JsonValueKind.Null => null,
                _ => throw new DatasetFormatException($"line {lineNumber}: key '{RegistryNames.Shorten(property.Name)}' holds a nested " +
                    $"{property.Value.ValueKind.ToString().ToLowerInvariant()}; values must be numbers, strings, booleans or null"),
            };

            // A value as the text it is read as (a string unescaped), measured as a CSV field is.
            if (cell is not null && Utf8Length(cell.Text) > maxFieldBytes)
            {
                throw FieldTooLong(lineNumber, rowNumber, $"the value of key '{RegistryNames.Shorten(property.Name)}'", maxFieldBytes);
            }

            row[column] = cell;
        }
    }

    // ---- type inference ----

    private enum CellKind
    {
        Text,
        Number,
        Boolean,
    }

    private sealed record Cell(CellKind Kind, string Text);

    private static DatasetTable Infer(string[] names, List<Cell?[]> rows)
    {
        var columns = new DatasetColumn[names.Length];
        var values = rows.Select(_ => new object?[names.Length]).ToArray();
        for (var c = 0; c < names.Length; c++)
        {
            var allNumbers = true;
            var allBooleans = true;
            var any = false;
            foreach (var row in rows)
            {
                var cell = row[c];
                if (cell is null || (cell.Kind == CellKind.Text && IsMissing(cell.Text)))
                {
                    continue;
                }

                any = true;
                allNumbers &= cell.Kind == CellKind.Number || (cell.Kind == CellKind.Text && TryNumber(cell.Text, out _));
                allBooleans &= cell.Kind == CellKind.Boolean || (cell.Kind == CellKind.Text && bool.TryParse(cell.Text.Trim(), out _));
            }

            var type = !any ? DatasetColumnType.String : allNumbers ? DatasetColumnType.Number : allBooleans ? DatasetColumnType.Boolean : DatasetColumnType.String;
            columns[c] = new DatasetColumn(names[c], type);
            for (var r = 0; r < rows.Count; r++)
            {
                var cell = rows[r][c];
                if (cell is null)
                {
                    continue;
                }

                var missing = cell.Kind == CellKind.Text && IsMissing(cell.Text);
                values[r][c] = type switch
                {
                    DatasetColumnType.Number => missing ? null : TryNumber(cell.Text, out var d) ? d : null,
                    DatasetColumnType.Boolean => missing ? null : bool.Parse(cell.Text.Trim()),
                    _ => cell.Kind == CellKind.Text && missing && cell.Text.Length == 0 ? null : cell.Text,
                };
            }
        }

        return new DatasetTable(columns, values);
    }

    private static bool TryNumber(string text, out double value) =>
        double.TryParse(text.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out value) && double.IsFinite(value);

    // ---- IDX (MNIST) ----

    private const int IdxImagesMagic = 0x00000803;
    private const int IdxLabelsMagic = 0x00000801;

    private static DatasetTable ParseArchive(Stream input, bool gzip, DatasetReadOptions options, DecompressionBudget budget)
    {
        var entries = ReadArchive(input, gzip, options, budget);
        var hasIdx = entries.Any(e => e.Data.Length >= 4 && (e.Data[0] == 0x1f || BinaryPrimitives.ReadInt32BigEndian(e.Data) is IdxImagesMagic or IdxLabelsMagic));
        if (!hasIdx && ImageFolderDatasetReader.Looks(entries))
        {
            var pictures = ImageFolderDatasetReader.Read(entries, options.ImageSize, budget);
            return new DatasetTable(pictures.Columns, pictures.Rows) { DetectedFormat = DatasetFormat.ImageFolder };
        }

        var table = ParseIdx(entries, budget);
        return new DatasetTable(table.Columns, table.Rows) { DetectedFormat = DatasetFormat.Idx };
    }

    private static DatasetTable ParseIdx(List<(string Name, byte[] Data)> entries, DecompressionBudget budget)
    {
        byte[]? images = null;
        byte[]? labels = null;
        string imagesName = "", labelsName = "";
        foreach (var (name, raw) in entries)
        {
            var data = raw.Length >= 2 && raw[0] == 0x1f && raw[1] == 0x8b ? Gunzip(name, raw, budget) : raw;
            if (data.Length < 4)
            {
                continue;
            }

            var magic = BinaryPrimitives.ReadInt32BigEndian(data);
            if (magic == IdxImagesMagic)
            {
                if (images is not null)
                {
                    throw new DatasetFormatException(
                        $"entry '{name}': a second IDX images file (the first was '{imagesName}'); put one images file and one labels file in the archive");
                }

                (images, imagesName) = (data, name);
            }
            else if (magic == IdxLabelsMagic)
            {
                if (labels is not null)
                {
                    throw new DatasetFormatException(
                        $"entry '{name}': a second IDX labels file (the first was '{labelsName}'); put one images file and one labels file in the archive");
                }

                (labels, labelsName) = (data, name);
            }
        }

        if (images is null || labels is null)
        {
            throw new DatasetFormatException(
                $"the archive needs an IDX images file (magic 0x00000803) and an IDX labels file (magic 0x00000801); found {(images is null ? "no images file" : "images")} and " +
                $"{(labels is null ? "no labels file" : "labels")} among {entries.Count} entries");
        }

        if (images.Length < 16)
        {
            throw new DatasetFormatException($"entry '{imagesName}': the IDX header is cut short");
        }

        var count = BinaryPrimitives.ReadInt32BigEndian(images.AsSpan(4));
        var height = BinaryPrimitives.ReadInt32BigEndian(images.AsSpan(8));
        var width = BinaryPrimitives.ReadInt32BigEndian(images.AsSpan(12));
        if (count < 0 || height <= 0 || width <= 0 || (long)height * width > 1 << 24)
        {
            throw new DatasetFormatException($"entry '{imagesName}': the IDX header says {count} images of {height}x{width}, which is not a valid size");
        }

        var pixels = height * width;
        var labelCount = labels.Length >= 8 ? BinaryPrimitives.ReadInt32BigEndian(labels.AsSpan(4)) : -1;
        if (labelCount != count)
        {
            throw new DatasetFormatException($"entry '{labelsName}': {labelCount} labels for {count} images in '{imagesName}'");
        }

        var rows = new object?[count][];
        for (var i = 0; i < count; i++)
        {
            long offset = 16 + ((long)i * pixels);
            if (offset + pixels > images.Length)
            {
                throw new DatasetFormatException($"entry '{imagesName}': record {i} is cut short (the file ends at byte {images.Length})");
            }

            if (8 + i >= labels.Length)
            {
                throw new DatasetFormatException($"entry '{labelsName}': record {i} is cut short (the file ends at byte {labels.Length})");
            }

            rows[i] = [images.AsSpan((int)offset, pixels).ToArray(), (double)labels[8 + i]];
        }

        return new DatasetTable([new DatasetColumn("image", DatasetColumnType.Image, [height, width]), new DatasetColumn("label", DatasetColumnType.Number)], rows);
    }

    private static byte[] Gunzip(string name, byte[] data, DecompressionBudget budget)
    {
        try
        {
            using var gz = new BoundedReadStream(new GZipStream(new MemoryStream(data), CompressionMode.Decompress), budget);
            using var output = new MemoryStream();
            gz.CopyTo(output);
            GzipIntegrity.Check(data, output.GetBuffer().AsSpan(0, (int)output.Length), $"entry '{name}'");
            return output.ToArray();
        }
        catch (InvalidDataException e)
        {
            throw new DatasetFormatException($"entry '{name}': not valid gzip data ({e.Message})");
        }
    }

    private static List<(string Name, byte[] Data)> ReadArchive(Stream input, bool gzip, DatasetReadOptions options, DecompressionBudget budget)
    {
        // Both archive readers want to seek or peek; the files are bounded by the upload limit, so buffer them.
        var buffer = new MemoryStream();
        if (gzip)
        {
            // Checked whole as a gzipped table is (a cut .tar.gz reads as a tar of fewer entries).
            var compressed = input.CanSeek ? input : new MemoryStream();
            if (!input.CanSeek)
            {
                input.CopyTo(compressed);
                compressed.Position = 0;
            }

            var origin = compressed.Position;
            using (var gz = new BoundedReadStream(new GZipStream(compressed, CompressionMode.Decompress, leaveOpen: true), budget))
            {
                gz.CopyTo(buffer);
            }

            GzipIntegrity.Check(compressed, origin, buffer.GetBuffer().AsSpan(0, (int)buffer.Length), "the archive");
        }
        else
        {
            input.CopyTo(buffer);
        }

        buffer.Position = 0;
        var entries = new List<(string, byte[])>();
        var head = buffer.GetBuffer();
        if (buffer.Length >= 4 && head[0] == 'P' && head[1] == 'K')
        {
            using var zip = new ZipArchive(buffer, ZipArchiveMode.Read);
            if (zip.Entries.Count > options.MaxArchiveEntries)
            {
                throw TooManyEntries(options.MaxArchiveEntries);
            }

            foreach (var entry in zip.Entries.Where(e => e.Length > 0))
            {
                // The entry's declared size is not trusted: its bytes are counted as they expand.
                using var stream = new BoundedReadStream(entry.Open(), budget);
                using var copy = new MemoryStream();
                stream.CopyTo(copy);
                entries.Add((entry.FullName, copy.ToArray()));
            }

            return entries;
        }

        try
        {
            using var tar = new TarReader(buffer);
            while (tar.GetNextEntry() is { } entry)
            {
                if (entry.DataStream is null || entry.EntryType is not (TarEntryType.RegularFile or TarEntryType.V7RegularFile))
                {
                    continue;
                }

                if (entries.Count >= options.MaxArchiveEntries)
                {
                    throw TooManyEntries(options.MaxArchiveEntries);
                }

                using var copy = new MemoryStream();
                new BoundedReadStream(entry.DataStream, budget, leaveOpen: true).CopyTo(copy);
                entries.Add((entry.Name, copy.ToArray()));
            }
        }
        catch (Exception e) when (e is FormatException or InvalidDataException or EndOfStreamException)
        {
            throw new DatasetFormatException($"the file is neither a zip nor a tar archive ({e.Message})");
        }

        return entries;
    }

    private static DatasetTooLargeException TooManyEntries(int limit) =>
        new($"the archive holds more than {limit} entries (Maas:Datasets:MaxArchiveEntries)", limit);
}
