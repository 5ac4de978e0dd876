using System.Text.Json;
using Maas.Testing;

namespace Maas.Console.Tests;

/// <summary>
/// The console end to end: a real MaaS on loopback, Debian's Chromium driven by playwright-core (e2e/console.mjs),
/// every scenario of issue 19, a screenshot of each page and axe on each page. The browser run happens once (the
/// fixture); each fact asserts one scenario's outcome.
/// </summary>
[Collection(ConsoleCollection.Name)]
public sealed class ConsoleEndToEndTests(ConsoleRun run)
{
    [BrowserFact]
    public void Signs_in_with_a_key_and_lists_searches_and_filters_models() => run.AssertScenario("sign_in");

    [BrowserFact]
    public void A_new_server_shows_every_empty_list_in_words_and_no_error() => run.AssertScenario("empty_states");

    [BrowserFact]
    public void A_model_that_does_not_exist_gets_a_page_with_its_heading_and_the_servers_message() => run.AssertScenario("not_found_page");

    [BrowserFact]
    public void A_failed_confirmed_action_shows_its_error_in_the_page() => run.AssertScenario("failed_action_in_page");

    [BrowserFact]
    public void Uploads_a_big_model_through_the_resumable_api_with_a_moving_progress_bar_going_on_after_a_broken_chunk() => run.AssertScenario("upload_with_progress");

    [BrowserFact]
    public void Chats_with_the_demo_llm_with_its_system_prompt_and_parameters_and_the_answer_streams_in() => run.AssertScenario("chat_streaming");

    [BrowserFact]
    public void Runs_an_onnx_model_from_the_form_its_signature_makes_with_json_and_with_a_raw_file() => run.AssertScenario("onnx_form_from_signature");

    [BrowserFact(NeedsSharedModels = true)]
    public void Runs_ultraface_on_the_sample_photo_and_draws_face_boxes() => run.AssertScenario("ultraface_boxes");

    [BrowserFact]
    public void The_requests_chart_moves_under_load_with_latency_percentiles_and_the_server_charts_beside_it_each_axis_in_round_steps() =>
    run.AssertScenario("chart_moves_under_load");

    [BrowserFact]
    public void Creates_a_tenant_and_a_key_shows_its_secret_once_limits_its_pages_to_its_scopes_and_revokes_it() => run.AssertScenario("create_and_revoke_key");

    [BrowserFact]
    public void Disables_enables_and_deletes_a_tenant_from_its_row_and_shows_why_a_delete_is_refused() => run.AssertScenario("tenant_lifecycle");

    [BrowserFact]
    public void A_read_only_key_is_offered_nothing_that_writes() => run.AssertScenario("read_only_key");

    [BrowserFact]
    public void Creates_a_key_with_dataset_and_training_scopes_whose_pages_follow_them() => run.AssertScenario("training_key_scopes");

    [BrowserFact]
    public void Follows_an_import_job_on_the_jobs_page_through_each_percentage_the_page_drew_to_100() => run.AssertScenario("follow_a_job");

    [BrowserFact]
    public void Cancels_a_running_import_from_the_jobs_page_whose_question_outlives_its_redraws() => run.AssertScenario("cancel_a_job");

    [BrowserFact]
    public void Pages_through_more_jobs_than_a_page_with_a_later_page_unmoved_by_a_new_job_and_a_reload() => run.AssertScenario("jobs_paging");

    [BrowserFact]
    public void Moves_an_alias_shown_as_moved_by_the_keys_name_and_deletes_a_version_and_the_model() => run.AssertScenario("alias_and_delete");

    [BrowserFact]
    public void Shows_usage_by_model_and_by_key_name_names_the_calls_without_a_model_filters_it_and_exports_it_as_csv() => run.AssertScenario("usage_page");

    [BrowserFact]
    public void Uploads_a_csv_dataset_with_progress_and_shows_its_schema_statistics_and_first_rows() => run.AssertScenario("dataset_upload");

    [BrowserFact]
    public void Follows_a_tabular_regression_with_a_search_to_succeeded_and_draws_the_metric_per_trial() => run.AssertScenario("training_follow");

    [BrowserFact]
    public void A_searchs_page_counts_its_trials_and_shows_the_time_left_only_when_the_server_could_estimate_it() => run.AssertScenario("search_progress");

    [BrowserFact]
    public void Shows_a_tabular_classifier_without_a_search_as_final_metrics_per_split_and_a_confusion_matrix() => run.AssertScenario("tabular_final_metrics");

    [BrowserFact]
    public void Predicts_with_the_trained_table_classifier_from_a_form_of_its_features_and_from_the_datasets_own_csv() => run.AssertScenario("tabular_playground");

    [BrowserFact]
    public void Evaluates_a_trained_version_on_a_dataset_from_its_form_and_draws_the_apis_metrics_as_tables_a_heatmap_and_bars() => run.AssertScenario("evaluate_version");

    [BrowserFact]
    public void Follows_a_lightgbm_regression_and_draws_its_rmse_per_boosting_iteration() => run.AssertScenario("tabular_iterations");

    [BrowserFact]
    public void Follows_an_image_training_job_to_succeeded_and_draws_the_loss_per_epoch() => run.AssertScenario("image_training_epochs");

    [BrowserFact]
    public void Classifies_a_picture_with_the_trained_image_model_and_names_its_class() => run.AssertScenario("image_classes");

    [BrowserFact]
    public void Optimises_a_version_from_the_model_page_lists_the_new_version_as_the_job_ends_and_shows_its_status_report_gate_and_job_events() =>
    run.AssertScenario("optimise_version");

    [BrowserFact]
    public void Shows_a_models_serving_config_signature_evaluation_and_lineage_of_trained_and_optimised_versions() => run.AssertScenario("model_details");

    [BrowserFact]
    public void Chats_with_tools_and_shows_the_tool_call() => run.AssertScenario("chat_tools");

    [BrowserFact]
    public void Fine_tunes_an_llm_from_the_console_with_an_upload_progress_bar_and_draws_the_loss_per_epoch() => run.AssertScenario("fine_tuning");

    [BrowserFact]
    public void Deployment_page_splits_changes_refuses_stale_changes_pauses_resumes_aborts_deletes_promotes_and_edits_stickiness_and_rollouts() =>
        run.AssertScenario("deployments");

    [BrowserFact]
    public void Pages_through_more_models_than_a_page_and_keeps_the_filters_and_the_page_across_a_reload() => run.AssertScenario("models_paging");

    [BrowserFact]
    public void Puts_the_focus_on_the_new_pages_heading_and_refuses_a_name_the_api_would_refuse_saying_what_a_name_may_be() => run.AssertScenario("keyboard_and_names");

    [BrowserFact]
    public void A_key_without_a_scope_a_page_uses_is_told_so_and_can_still_train_from_a_typed_dataset() => run.AssertScenario("scope_messages");

    [BrowserFact]
    public void A_deployments_page_follows_its_metrics_per_version_and_keeps_an_asked_abort() => run.AssertScenario("deployment_metrics_follow");

    [BrowserFact]
    public void Revoking_the_key_of_the_session_warns_that_it_signs_out() => run.AssertScenario("own_key_revoke_warning");

    [BrowserFact]
    public void A_job_being_cancelled_or_registering_its_result_is_offered_no_cancel_and_a_refused_cancel_shows_the_servers_message() =>
    run.AssertScenario("cancel_offered_only_when_possible");

    [BrowserFact]
    public void A_refused_dataset_file_shows_the_limit_and_line_and_leaves_no_dataset_and_a_dataset_version_in_use_is_deleted_only_when_asked_again() =>
    run.AssertScenario("dataset_refusals_and_deletes");

    [BrowserFact]
    public void A_dataset_read_by_unfinished_jobs_names_them_without_delete_anyway_and_one_named_only_by_unlisted_lineage_counts_it() =>
    run.AssertScenario("dataset_in_use_by_jobs_or_unlisted_lineage");

    [BrowserFact]
    public void A_chart_takes_negative_values_into_its_axis_and_writes_small_values_as_they_are() => run.AssertScenario("chart_axis_and_labels");

    [BrowserFact]
    public void A_table_training_jobs_page_shows_no_epoch() => run.AssertScenario("table_job_has_no_epoch");

    [BrowserFact]
    public void A_deployed_models_page_and_the_playground_show_the_split_calls_follow_and_hide_the_deployments_name_from_another_tenant() =>
    run.AssertScenario("deployment_shown_where_calls_follow_it");

    [BrowserFact]
    public void An_import_whose_job_cannot_be_read_ends_with_the_servers_message() => run.AssertScenario("import_whose_job_vanishes");

    [BrowserFact]
    public void A_training_or_fine_tuning_job_that_does_not_exist_gets_its_heading_and_an_alert_and_is_not_polled() => run.AssertScenario("job_not_found_pages");

    [BrowserFact]
    public void At_800_px_wide_tables_scroll_in_their_own_box_and_no_page_scrolls_sideways() => run.AssertScenario("narrow_window");

    [BrowserFact]
    public void Every_page_passes_axe_without_serious_or_critical_violations()
    {
        var report = run.Report;
        Assert.NotEmpty(report.Axe);
        var problems = report.Axe
            .SelectMany(page => page.Value.Where(v => v.Impact is "serious" or "critical").Select(v => $"{page.Key}: {v.Id} ({v.Impact}) {v.Help} at {string.Join("; ", v.Nodes)}"))
            .ToList();
        Assert.True(problems.Count == 0, string.Join('\n', problems));
    }

    [BrowserFact]
    public void The_pages_run_under_the_strict_csp_without_violations_or_script_errors()
    {
        var report = run.Report;
        Assert.True(report.CspViolations.Count == 0, string.Join('\n', report.CspViolations));
        Assert.True(report.PageErrors.Count == 0, string.Join('\n', report.PageErrors));
        Assert.All(report.Screenshots, file => Assert.True(new FileInfo(file).Length > 1000, $"{file} is missing or empty"));
    }
}

/// <summary>A fact that needs Debian's Chromium and node (and maybe ../shared/models); skipped with the reason when absent.</summary>
public sealed class BrowserFactAttribute : FactAttribute
{
    public BrowserFactAttribute()
    {
        if (!File.Exists(ConsoleRun.Chromium))
        {
            Skip = $"needs {ConsoleRun.Chromium} (Debian package chromium; .ci/run installs it)";
        }
        else if (ConsoleRun.Node is null)
        {
            Skip = "needs node on the PATH (runs playwright-core)";
        }
    }

    /// <summary>The test also needs UltraFace and the sample photo from ../shared/models.</summary>
    public bool NeedsSharedModels
    {
        get => Skip?.Contains("shared", StringComparison.Ordinal) == true;
        init
        {
            if (value && Skip is null && !ConsoleRun.HasSharedModels)
            {
                Skip = "needs ../shared/models/ultraface-rfb-320.onnx and faces-sample.jpg, which are not present in this clone (CI always has them)";
            }
        }
    }
}

/// <summary>One browser run for every test of the class.</summary>
[CollectionDefinition(Name)]
public sealed class ConsoleCollection : ICollectionFixture<ConsoleRun>
{
    public const string Name = "console";
}

/// <summary>What the browser script reports.</summary>
public sealed record ConsoleReport(
    Dictionary<string, ScenarioResult> Scenarios,
    Dictionary<string, List<AxeViolation>> Axe,
    List<string> CspViolations,
    List<string> PageErrors,
    List<string> Screenshots);

/// <summary>One scenario's outcome.</summary>
public sealed record ScenarioResult(bool Ok, string Detail, long Ms);

/// <summary>One axe rule violated on a page.</summary>
public sealed record AxeViolation(string Id, string? Impact, string Help, List<string> Nodes);
