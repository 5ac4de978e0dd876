using System.CommandLine;

namespace Maas.Cli.Hosting;

/// <summary>Options that name a version: checked when the command line is parsed, before anything is sent.</summary>
public static class VersionOptions
{
    /// <summary>
    /// Accepts only version numbers (1, 2, ...) for <paramref name="option"/>. Checked locally because the server
    /// would say so only after the request: for a push, after the whole file was uploaded.
    /// </summary>
    public static Option<int?> VersionNumber(this Option<int?> option)
    {
        option.Validators.Add(result =>
        {
            if (result.Tokens is [{ Value: var text }] && int.TryParse(text, System.Globalization.CultureInfo.InvariantCulture, out var version) && version < 1)
            {
                result.AddError($"{option.Name}: '{text}' is not a version number (1, 2, ...)");
            }
        });
        return option;
    }
}
