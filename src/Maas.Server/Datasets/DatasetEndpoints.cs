using Maas.Core.Datasets;
using Maas.Core.Registry;
using Maas.Core.Tenancy;
using Maas.Server.Auth;
using Maas.Server.Errors;
using Maas.Server.Jobs;
using Maas.Server.Registry;

namespace Maas.Server.Datasets;

/// <summary>Datasets: create, list, show, delete; versions uploaded as a raw body, shown with schema and statistics, previewed.</summary>
internal static class DatasetEndpoints
{
    public static void Map(RouteGroupBuilder api)
    {
        api.MapPost("/datasets", CreateAsync);
        api.MapGet("/datasets", ListAsync);
        api.MapGet("/datasets/{name}", GetAsync);
        api.MapDelete("/datasets/{name}", DeleteAsync);
        api.MapPost("/datasets/{name}/versions", UploadAsync);
        api.MapGet("/datasets/{name}/versions", ListVersionsAsync);
        api.MapGet("/datasets/{name}/versions/{version}", GetVersionAsync);
        api.MapGet("/datasets/{name}/versions/{version}/preview", PreviewAsync);
        api.MapDelete("/datasets/{name}/versions/{version}", DeleteVersionAsync);
        api.MapPost("/datasets/{name}/uploads", CreateUploadAsync);
        api.MapGet("/datasets/{name}/uploads/{id}", GetUploadAsync);
        api.MapMethods("/datasets/{name}/uploads/{id}", ["HEAD"], HeadUploadAsync);
        api.MapMethods("/datasets/{name}/uploads/{id}", ["PATCH"], PatchUploadAsync);
        api.MapPut("/datasets/{name}/uploads/{id}", PutUploadAsync);
        api.MapDelete("/datasets/{name}/uploads/{id}", CancelUploadAsync);
    }

    private static async Task<IResult> CreateAsync(HttpContext context, DatasetCatalog catalog, ITenancyStore tenants)
    {
        var body = await ApiRequests.ReadJsonAsync<CreateDatasetRequest>(context.Request, context.RequestAborted);
        if (string.IsNullOrEmpty(body.Name))
        {
            throw new ApiException(StatusCodes.Status400BadRequest, "invalid_name", "name is required");
        }

        var caller = context.GetCaller();
        var owner = string.IsNullOrEmpty(body.Owner) ? context.CallerTenant() : body.Owner;
        if (caller is { IsAdmin: false } && owner != caller.Tenant)
        {
            throw new ApiException(StatusCodes.Status403Forbidden, "insufficient_scope", "only an admin key may create a dataset for another tenant");
        }

        await ApiRequests.RequireTenantAsync(tenants, owner, context);

        var dataset = await catalog.CreateAsync(
            body.Name,
            owner,
            ApiRequests.Visibility(body.Visibility) ?? ModelVisibility.Private,
            body.Description ?? "",
            ApiRequests.Caller(context),
            context.RequestAborted);
        var response = DatasetResponse.From(dataset);
        return Results.Json(response, RegistryJson.Options, statusCode: StatusCodes.Status201Created);
    }

    private static async Task<IResult> ListAsync(HttpContext context, DatasetCatalog catalog)
    {
        var visibleTo = context.GetCaller() is { IsAdmin: false } caller ? caller.Tenant : null;
        var datasets = await catalog.ListAsync(visibleTo, context.RequestAborted);
        return Results.Json(new { datasets = datasets.Select(DatasetResponse.From).ToArray() }, RegistryJson.Options);
    }

    private static async Task<IResult> GetAsync(string name, HttpContext context, DatasetCatalog catalog)
    {
        var dataset = await VisibleAsync(name, context, catalog);
        var versions = await catalog.ListVersionsAsync(name, context.RequestAborted);
        return Results.Json(DatasetResponse.From(dataset) with { Versions = versions.Select(v => DatasetVersionResponse.From(v, withStatistics: false)).ToArray() },
            RegistryJson.Options);
    }

    private static async Task<IResult> DeleteAsync(string name, HttpContext context, DatasetCatalog catalog, DatasetJobUses jobUses, IModelRegistry registry)
    {
        await ChangeableAsync(name, context, catalog);
        var caller = context.GetCaller();
        await jobUses.RefuseIfReadAsync(name, null, job => JobEndpoints.VisibleQueued(caller, job), context.RequestAborted);
        await catalog.DeleteAsync(name, ApiRequests.Flag(context.Request.Query["force"], "force"), MayNameModel(caller, registry), context.RequestAborted);
        return Results.NoContent();
    }

    private static async Task<IResult> UploadAsync(string name, HttpContext context, DatasetCatalog catalog)
    {
        await ChangeableAsync(name, context, catalog);
        var request = context.Request;
        if (request.Query["upload"].ToString() is { Length: > 0 } uploadId)
        {
            return await CompleteUploadAsync(name, uploadId, context, catalog);
        }

        ApiRequests.AllowLargeBody(context);
        if (request.ContentLength > catalog.Options.MaxUploadBytes)
        {
            throw TooLarge(catalog.Options.MaxUploadBytes);
        }

        var fileName = request.Headers[VersionEndpoints.FileNameHeader].ToString();
        if (fileName.Length == 0)
        {
            throw new ApiException(StatusCodes.Status400BadRequest, "missing_filename",
                $"name the file in the {VersionEndpoints.FileNameHeader} header (e.g. data.csv); its extension picks the format");
        }

        var choices = UploadChoices(request.Query);
        try
        {
            var version = await catalog.AddVersionAsync(name, fileName, request.Body, ApiRequests.Caller(context), context.RequestAborted, choices, request.ContentLength);
            var response = DatasetVersionResponse.From(version);
            return Results.Json(response, RegistryJson.Options, statusCode: StatusCodes.Status201Created);
        }
        catch (RegistryException e) when (e.Code == "upload_too_large")
        {
            throw TooLarge(catalog.Options.MaxUploadBytes);
        }
    }

    // POST .../versions?upload={id}: the finished resumable upload becomes the version, read as a raw body would be.
    private static async Task<IResult> CompleteUploadAsync(string name, string id, HttpContext context, DatasetCatalog catalog)
    {
        await OwnUploadAsync(name, id, context, catalog);
        var choices = UploadChoices(context.Request.Query);
        var version = await catalog.CompleteUploadAsync(id, ApiRequests.Caller(context), choices, context.RequestAborted);
        return Results.Json(DatasetVersionResponse.From(version), RegistryJson.Options, statusCode: StatusCodes.Status201Created);
    }

    private static async Task<IResult> CreateUploadAsync(string name, HttpContext context, DatasetCatalog catalog)
    {
        await ChangeableAsync(name, context, catalog);
        var body = await ApiRequests.ReadJsonAsync<CreateUploadRequest>(context.Request, context.RequestAborted);
        if (string.IsNullOrEmpty(body.Filename))
        {
            throw new ApiException(StatusCodes.Status400BadRequest, "missing_filename", "filename is required (e.g. data.csv); its extension picks the format");
        }

        try
        {
            var session = await catalog.CreateUploadAsync(name, body.Filename, body.Size, body.Sha256, ApiRequests.Caller(context), context.RequestAborted);
            UploadEndpoints.SetOffsetHeaders(context, session.Offset, session.TotalBytes);
            var response = DatasetUploadResponse.From(session);
            return ModelEndpoints.CreatedAt.Json(response.Url, response);
        }
        catch (RegistryException e) when (e.Code == "upload_too_large")
        {
            throw TooLarge(catalog.Options.MaxUploadBytes);
        }
    }

    private static async Task<IResult> GetUploadAsync(string name, string id, HttpContext context, DatasetCatalog catalog)
    {
        var session = await OwnUploadAsync(name, id, context, catalog);
        UploadEndpoints.SetOffsetHeaders(context, session.Offset, session.TotalBytes);
        return Results.Json(DatasetUploadResponse.From(session), RegistryJson.Options);
    }

    private static async Task<IResult> HeadUploadAsync(string name, string id, HttpContext context, DatasetCatalog catalog)
    {
        var session = await OwnUploadAsync(name, id, context, catalog);
        UploadEndpoints.SetOffsetHeaders(context, session.Offset, session.TotalBytes);
        return Results.Ok();
    }

    private static async Task<IResult> PatchUploadAsync(string name, string id, HttpContext context, DatasetCatalog catalog)
    {
        var session = await AppendUploadAsync(name, id, UploadEndpoints.PatchOffset(context.Request), context, catalog);
        UploadEndpoints.SetOffsetHeaders(context, session.Offset, session.TotalBytes);
        return Results.NoContent();
    }

    private static async Task<IResult> PutUploadAsync(string name, string id, HttpContext context, DatasetCatalog catalog)
    {
        var session = await AppendUploadAsync(name, id, UploadEndpoints.PutOffset(context.Request), context, catalog);
        UploadEndpoints.SetOffsetHeaders(context, session.Offset, session.TotalBytes);
        return Results.Json(DatasetUploadResponse.From(session), RegistryJson.Options);
    }

    private static async Task<DatasetUploadSession> AppendUploadAsync(string name, string id, long offset, HttpContext context, DatasetCatalog catalog)
    {
        await OwnUploadAsync(name, id, context, catalog);
        ApiRequests.AllowLargeBody(context);
        if (context.Request.ContentLength > catalog.Options.MaxUploadBytes)
        {
            throw TooLarge(catalog.Options.MaxUploadBytes);
        }

        try
        {
            return await catalog.AppendUploadAsync(id, offset, context.Request.Body, context.RequestAborted);
        }
        catch (RegistryException e) when (e.Code == "upload_too_large")
        {
            throw TooLarge(catalog.Options.MaxUploadBytes);
        }
    }

    private static async Task<IResult> CancelUploadAsync(string name, string id, HttpContext context, DatasetCatalog catalog)
    {
        await OwnUploadAsync(name, id, context, catalog);
        await catalog.CancelUploadAsync(id, context.RequestAborted);
        return Results.NoContent();
    }

    // The session if it is for this dataset, the caller may change the dataset and opened the session (or is an
    // admin); else "not found", worded exactly as for a session that does not exist.
    private static async Task<DatasetUploadSession> OwnUploadAsync(string name, string id, HttpContext context, DatasetCatalog catalog)
    {
        await ChangeableAsync(name, context, catalog);
        var session = await catalog.GetUploadAsync(id, context.RequestAborted);
        if (session.Dataset != name || (context.GetCaller() is { IsAdmin: false } caller && !string.Equals(session.CreatedBy, caller.Actor, StringComparison.Ordinal)))
        {
            throw RegistryException.NotFound("upload_not_found", $"upload '{id}' does not exist or has expired");
        }

        return session;
    }

    // ?schema=zip:string,flag:boolean overrides inferred column types; ?image_size=64x64 resizes an image-folder archive.
    private static DatasetUploadChoices UploadChoices(IQueryCollection query)
    {
        try
        {
            return new DatasetUploadChoices
            {
                Schema = query["schema"].ToString() is { Length: > 0 } schema ? DatasetSchemaOverride.Parse(schema) : null,
                ImageSize = query["image_size"].ToString() is { Length: > 0 } size ? DatasetImageSize.Parse(size) : null,
            };
        }
        catch (FormatException e)
        {
            throw new ApiException(StatusCodes.Status400BadRequest, "invalid_query", e.Message);
        }
    }

    private static async Task<IResult> ListVersionsAsync(string name, HttpContext context, DatasetCatalog catalog)
    {
        await VisibleAsync(name, context, catalog);
        var versions = await catalog.ListVersionsAsync(name, context.RequestAborted);
        return Results.Json(new { versions = versions.Select(v => DatasetVersionResponse.From(v, withStatistics: false)).ToArray() }, RegistryJson.Options);
    }

    private static async Task<IResult> GetVersionAsync(string name, string version, HttpContext context, DatasetCatalog catalog)
    {
        await VisibleAsync(name, context, catalog);
        var found = await catalog.GetVersionAsync(name, ApiRequests.Version(version), context.RequestAborted);
        return Results.Json(DatasetVersionResponse.From(found), RegistryJson.Options);
    }

    private static async Task<IResult> PreviewAsync(string name, string version, HttpContext context, DatasetCatalog catalog)
    {
        await VisibleAsync(name, context, catalog);
        var limit = ApiRequests.OptionalInt(context.Request.Query["limit"], "limit") ?? 20;
        if (limit < 1 || limit > catalog.Options.MaxPreviewRows)
        {
            throw new ApiException(
                StatusCodes.Status400BadRequest,
                "invalid_query",
                $"limit must be between 1 and {catalog.Options.MaxPreviewRows} ({DatasetOptions.Section}:MaxPreviewRows), not {limit}",
                new Dictionary<string, object?> { ["limit"] = catalog.Options.MaxPreviewRows });
        }

        var found = await catalog.GetVersionAsync(name, ApiRequests.Version(version), context.RequestAborted);
        var table = await catalog.LoadAsync(found, context.RequestAborted);
        var rows = table.Rows.Take(limit).Select(row =>
        {
            var item = new Dictionary<string, object?>(StringComparer.Ordinal);
            for (var c = 0; c < table.Columns.Count; c++)
            {
                item[table.Columns[c].Name] = row[c] switch
                {
                    // Rows of pixels; colour pictures as rows of [r, g, b].
                    byte[] pixels when table.Columns[c].Shape is [var h, var w] =>
                        Enumerable.Range(0, h).Select(y => pixels.AsSpan(y * w, w).ToArray().Select(p => (int)p).ToArray()).ToArray(),
                    byte[] pixels when table.Columns[c].Shape is [var h, var w, var channels] =>
                        Enumerable.Range(0, h).Select(y =>
                        Enumerable.Range(0, w).Select(x => pixels.AsSpan(((y * w) + x) * channels, channels).ToArray().Select(p => (int)p).ToArray()).ToArray()).ToArray(),
                    var value => value,
                };
            }

            return item;
        }).ToArray();
        return Results.Json(new { dataset = found.Dataset, version = found.Version, rows_total = found.Rows, columns = table.Columns, rows }, RegistryJson.Options);
    }

    private static async Task<IResult> DeleteVersionAsync(string name, string version, HttpContext context, DatasetCatalog catalog, DatasetJobUses jobUses, IModelRegistry registry)
    {
        await ChangeableAsync(name, context, catalog);
        var number = ApiRequests.Version(version);
        await catalog.GetVersionAsync(name, number, context.RequestAborted);
        var caller = context.GetCaller();
        await jobUses.RefuseIfReadAsync(name, number, job => JobEndpoints.VisibleQueued(caller, job), context.RequestAborted);
        await catalog.DeleteVersionAsync(name, number, ApiRequests.Flag(context.Request.Query["force"], "force"), MayNameModel(caller, registry), context.RequestAborted);
        return Results.NoContent();
    }

    // A shared dataset's refusal to be deleted names the models the caller may see (its tenant's, shared ones; all for
    // an admin) and only counts other tenants' private ones, as the jobs it lists are those the caller may see.
    private static Func<string, CancellationToken, ValueTask<bool>> MayNameModel(Caller? caller, IModelRegistry registry) =>
        async (key, cancellationToken) =>
        {
            if (caller is null)
            {
                return true;
            }

            try
            {
                var model = await registry.GetModelAsync(key, cancellationToken);
                return caller.CanSee(key, model.Owner, model.Visibility);
            }
            catch (RegistryException e) when (e.Kind == RegistryErrorKind.NotFound)
            {
                return false;
            }
        };

    private static ApiException TooLarge(long limit) => new(
        StatusCodes.Status413PayloadTooLarge,
        "upload_too_large",
        $"the upload is larger than the limit of {limit} bytes (setting {DatasetOptions.Section}:MaxUploadBytes)",
        new Dictionary<string, object?> { ["limit_bytes"] = limit });

    /// <summary>The dataset if the caller may see it; another tenant's private dataset answers 404 like a missing one.</summary>
    public static async Task<Dataset> VisibleAsync(string name, HttpContext context, DatasetCatalog catalog)
    {
        var dataset = await catalog.GetAsync(name, context.RequestAborted);
        if (!CanSee(context.GetCaller(), dataset))
        {
            throw new ApiException(StatusCodes.Status404NotFound, "dataset_not_found", $"dataset '{RegistryNames.Shorten(name)}' does not exist");
        }

        return dataset;
    }

    /// <summary>True when <paramref name="caller"/> may read <paramref name="dataset"/>.</summary>
    public static bool CanSee(Caller? caller, Dataset dataset) =>
        caller is null || caller.IsAdmin || dataset.Visibility == ModelVisibility.Shared || dataset.Owner == caller.Tenant;

    private static async Task ChangeableAsync(string name, HttpContext context, DatasetCatalog catalog)
    {
        var dataset = await VisibleAsync(name, context, catalog);
        if (context.GetCaller() is { IsAdmin: false } caller && dataset.Owner != caller.Tenant)
        {
            throw new ApiException(StatusCodes.Status403Forbidden, "dataset_read_only", $"dataset '{name}' is shared by tenant '{dataset.Owner}'; only its owner may change it");
        }
    }

}
