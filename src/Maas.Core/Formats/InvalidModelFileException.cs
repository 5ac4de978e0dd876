namespace Maas.Core.Formats;

/// <summary>A model file that cannot be served: its message says why, in words a user can act on.</summary>
public sealed class InvalidModelFileException : Exception
{
    /// <summary>Creates the exception with the reason the file was refused.</summary>
    public InvalidModelFileException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with the reason and the error that revealed it.</summary>
    public InvalidModelFileException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
