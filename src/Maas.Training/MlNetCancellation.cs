using System.Reflection;
using Microsoft.ML;

namespace Maas.Training;

/// <summary>
/// Stops the ML.NET work running on an <see cref="MLContext"/>: its trainers then throw at their next check (FastTree
/// before each tree and while it searches splits, LightGBM before each boosting round, SDCA and L-BFGS at each pass).
/// </summary>
/// <remarks>
/// ML.NET 6 has the switch (<c>MLContext.CancelExecution</c>, what its AutoML uses) but keeps it internal; the public
/// wrapper is in the Microsoft.ML.Experimental package, which is not published. It is therefore found once by
/// reflection, and <c>FitCancellationTests</c> fails if an ML.NET upgrade renames or removes it (without it a cancel
/// waits for the fit to end, as before).
/// </remarks>
internal static class MlNetCancellation
{
    private static readonly Action<MLContext>? CancelExecution = Find();

    /// <summary>True when this ML.NET has the switch.</summary>
    public static bool Available => CancelExecution is not null;

    /// <summary>Cancels every running and later operation on <paramref name="context"/> (it cannot be undone).</summary>
    public static void Cancel(MLContext context) => CancelExecution?.Invoke(context);

    /// <summary>Calls <see cref="Cancel"/> on <paramref name="context"/> when <paramref name="token"/> fires (at once if it has).</summary>
    public static CancellationTokenRegistration CancelOn(MLContext context, CancellationToken token) =>
        token.Register(static c => Cancel((MLContext)c!), context);

    private static Action<MLContext>? Find() =>
        typeof(MLContext).GetMethod("CancelExecution", BindingFlags.Instance | BindingFlags.NonPublic | BindingFlags.Public, Type.EmptyTypes) is { } method
            ? method.CreateDelegate<Action<MLContext>>()
            : null;
}
