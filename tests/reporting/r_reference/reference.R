# Reference values of the study's R analysis, for tests/reporting/test_study_reference.py.
#
# Run from the repository root (needs R with rstatix, car, dplyr, tidyr, plyr, npmv):
#   Rscript tests/reporting/r_reference/reference.R ../shared/data/paper_results \
#     > tests/reporting/r_reference/reference_output.txt
#
# The data preparation and every test call are those of the study's performance.R and
# explainability.R (../shared/seed/statistical_analysis/); plots are left out. Values are printed
# with 12 significant digits as `key = value` lines (the tests pin them). npmv's nonpartest
# rounds its table, so its statistics come from npmv:::basenonpartest, which nonpartest calls.
# rcompanion (multiVDA) is not packaged in Debian: VDA is computed as its documented
# definition, the Mann-Whitney U of wilcox.test divided by n1 * n2.
suppressPackageStartupMessages({
  library(dplyr)
  library(tidyr)
  library(rstatix)
  library(car)
  library(npmv)
})

args <- commandArgs(trailingOnly = TRUE)
root <- if (length(args) > 0) args[1] else "../shared/data/paper_results"
out <- function(key, value) {
  cat(sprintf("%s = %s\n", key, format(value, digits = 12)))
}

# ------------------------------------------------------------------ performance.R
data <- read.csv(file.path(root, "experiment.csv")) %>%
  mutate(target_rationale = as.factor(target_rationale),
         training_mode = as.factor(training_mode),
         model_size = as.factor(model_size)) %>%
  mutate(training_data = case_when(
    target_rationale == "few-shot-positive-rationale" ~ "unrevised",
    target_rationale == "few-shot-revision" ~ "revised",
    TRUE ~ as.character(target_rationale)),
  training_mode = case_when(
    training_mode == "task-prefix" ~ "multitask",
    training_mode == "counterfactual-prefix" ~ "counterfactual",
    training_mode == "both" ~ "both",
    TRUE ~ as.character(training_mode)))
data$test.accuracy <- data$test.accuracy * 100
data <- data[!(data$target_rationale == "few-shot-revision" & data$training_mode != "both"), ]
data$target_rationale <- plyr::revalue(data$target_rationale,
  c("few-shot-positive-rationale" = "Unrevised", "few-shot-revision" = "Revised"))
data$training_mode <- plyr::revalue(data$training_mode,
  c("multitask" = "MT", "counterfactual" = "CF", "both" = "MT+CF"))
data$model <- paste(data$training_mode, data$target_rationale, sep = ":")
data <- data %>% mutate(model = as.factor(model)) %>%
  reorder_levels(model, order = c("CF:Unrevised", "MT:Unrevised", "MT+CF:Unrevised", "MT+CF:Revised"))
out("perf.n_rows", nrow(data))

before <- data %>% group_by(model_size, model) %>%
  summarise(n = n(), mean = mean(test.accuracy), se = sd(test.accuracy) / sqrt(n()), .groups = "drop")
for (i in seq_len(nrow(before))) {
  k <- paste0("perf.before.", before$model_size[i], ".", before$model[i])
  out(paste0(k, ".n"), before$n[i]); out(paste0(k, ".mean"), before$mean[i]); out(paste0(k, ".se"), before$se[i])
}

outliers <- data %>% group_by(model, model_size) %>% identify_outliers(test.accuracy)
for (i in seq_len(nrow(outliers))) {
  out(paste0("perf.outlier.", outliers$model_size[i], ".", outliers$model[i], ".run", outliers$run[i]),
      outliers$test.accuracy[i])
}
data <- data %>% anti_join(outliers, by = c("model_size", "model", "run"))
out("perf.n_rows_after", nrow(data))

after <- data %>% group_by(model_size, model) %>%
  summarise(n = n(), mean = mean(test.accuracy), se = sd(test.accuracy) / sqrt(n()), .groups = "drop")
for (i in seq_len(nrow(after))) {
  k <- paste0("perf.after.", after$model_size[i], ".", after$model[i])
  out(paste0(k, ".n"), after$n[i]); out(paste0(k, ".mean"), after$mean[i]); out(paste0(k, ".se"), after$se[i])
}

lev <- data %>% levene_test(test.accuracy ~ model * model_size)
out("perf.levene.df1", lev$df1); out("perf.levene.df2", lev$df2)
out("perf.levene.statistic", lev$statistic); out("perf.levene.p", lev$p)

sh <- data %>% group_by(model, model_size) %>% shapiro_test(test.accuracy)
for (i in seq_len(nrow(sh))) {
  k <- paste0("perf.shapiro.", sh$model_size[i], ".", sh$model[i])
  out(paste0(k, ".statistic"), sh$statistic[i]); out(paste0(k, ".p"), sh$p[i])
}

res.aov <- anova_test(data = data, formula = test.accuracy ~ model * model_size)
aov_tab <- get_anova_table(res.aov)
# anova_test rounds its table; car::Anova type II on the same lm gives the full-precision values
fit <- lm(test.accuracy ~ model * model_size, data = data)
full <- car::Anova(fit, type = 2)
for (term in c("model", "model_size", "model:model_size")) {
  k <- paste0("perf.anova.", term)
  out(paste0(k, ".df1"), full[term, "Df"]); out(paste0(k, ".df2"), full["Residuals", "Df"])
  out(paste0(k, ".F"), full[term, "F value"]); out(paste0(k, ".p"), full[term, "Pr(>F)"])
  out(paste0(k, ".ges"), full[term, "Sum Sq"] / (full[term, "Sum Sq"] + full["Residuals", "Sum Sq"]))
  out(paste0(k, ".rstatix_F_rounded"), aov_tab$F[aov_tab$Effect == term])
  out(paste0(k, ".rstatix_ges_rounded"), aov_tab$ges[aov_tab$Effect == term])
}

tk <- data %>% group_by(model_size) %>% tukey_hsd(test.accuracy ~ model)
# tukey_hsd rounds p.adj for display only in print; recompute unrounded with TukeyHSD
for (size in levels(data$model_size)) {
  th <- TukeyHSD(aov(test.accuracy ~ model, data = data[data$model_size == size, ]))$model
  for (r in rownames(th)) {
    k <- paste0("perf.tukey.", size, ".", gsub("-", " vs ", r, fixed = TRUE))
    out(paste0(k, ".estimate"), th[r, "diff"]); out(paste0(k, ".conf_low"), th[r, "lwr"])
    out(paste0(k, ".conf_high"), th[r, "upr"]); out(paste0(k, ".p_adjusted"), th[r, "p adj"])
  }
}
for (i in seq_len(nrow(tk))) {
  out(paste0("perf.tukey_rstatix.", tk$model_size[i], ".", tk$group2[i], " vs ", tk$group1[i], ".p_adjusted"), tk$p.adj[i])
}

# ------------------------------------------------------------------ explainability.R
items <- c("Plausibility", "Understandability", "Completeness", "Satisfaction", "Contrastiveness")
study <- read.csv(file.path(root, "study.csv"))
study <- study %>%
  mutate(model = as.factor(model), gender = as.factor(gender), age = as.factor(age),
         country = as.factor(country), education = as.factor(education),
         employement = as.factor(employement),
         Quality = rowMeans(select(., all_of(items)))) %>%
  tibble::add_column(id = 1:nrow(study), .before = 1) %>%
  reorder_levels(model, order = c("CF:PosRationales", "MT:PosRationales", "MT+CF:PosRationales", "MT+CF:RevRationales"))
study$model <- plyr::revalue(study$model, c("CF:PosRationales" = "CF:Unrevised",
  "MT:PosRationales" = "MT:Unrevised", "MT+CF:PosRationales" = "MT+CF:Unrevised",
  "MT+CF:RevRationales" = "MT+CF:Revised"))

oq <- study %>% group_by(model) %>% identify_outliers(Quality)
out("expl.quality_outliers.n", nrow(oq))
out("expl.quality_outliers.ids", paste(sort(oq$id), collapse = ","))
dq <- study %>% anti_join(oq, by = c("id"))
out("expl.n_rows_after", nrow(dq))

sh2 <- study %>% group_by(model) %>%
  shapiro_test(Plausibility, Understandability, Completeness, Satisfaction, Contrastiveness, Quality)
for (i in seq_len(nrow(sh2))) {
  k <- paste0("expl.shapiro.", sh2$variable[i], ".", sh2$model[i])
  out(paste0(k, ".statistic"), sh2$statistic[i]); out(paste0(k, ".p"), sh2$p[i])
}

long <- study %>% pivot_longer(all_of(c(items, "Quality")), names_to = "variable", values_to = "value")
lev2 <- long %>% group_by(variable) %>% levene_test(value ~ model)
for (i in seq_len(nrow(lev2))) {
  k <- paste0("expl.levene.", lev2$variable[i])
  out(paste0(k, ".statistic"), lev2$statistic[i]); out(paste0(k, ".p"), lev2$p[i])
  out(paste0(k, ".df1"), lev2$df1[i]); out(paste0(k, ".df2"), lev2$df2[i])
}

bm <- box_m(study[, items], study$model)
out("expl.box_m.statistic", bm$statistic); out("expl.box_m.df", bm$parameter); out("expl.box_m.p", bm$p.value)

model4 <- lm(Quality ~ model + rationale_length, dq)
s4 <- summary(model4)
for (term in rownames(s4$coefficients)) {
  k <- paste0("expl.lm4.", term)
  out(paste0(k, ".estimate"), s4$coefficients[term, 1]); out(paste0(k, ".se"), s4$coefficients[term, 2])
  out(paste0(k, ".t"), s4$coefficients[term, 3]); out(paste0(k, ".p"), s4$coefficients[term, 4])
}
out("expl.lm4.r_squared", s4$r.squared); out("expl.lm4.adj_r_squared", s4$adj.r.squared)
out("expl.lm4.F", s4$fstatistic[1]); out("expl.lm4.df1", s4$fstatistic[2]); out("expl.lm4.df2", s4$fstatistic[3])
out("expl.lm4.F_p", pf(s4$fstatistic[1], s4$fstatistic[2], s4$fstatistic[3], lower.tail = FALSE))

dq$gender <- relevel(dq$gender, ref = "male")
dq$country <- relevel(dq$country, ref = "United Kingdom")
model5 <- lm(Quality ~ model + rationale_length + gender + age + country + education + employement, dq)
s5 <- summary(model5)
for (term in rownames(s5$coefficients)) {
  k <- paste0("expl.lm5.", term)
  out(paste0(k, ".estimate"), s5$coefficients[term, 1]); out(paste0(k, ".se"), s5$coefficients[term, 2])
  out(paste0(k, ".t"), s5$coefficients[term, 3]); out(paste0(k, ".p"), s5$coefficients[term, 4])
}
out("expl.lm5.r_squared", s5$r.squared); out("expl.lm5.adj_r_squared", s5$adj.r.squared)
out("expl.lm5.F", s5$fstatistic[1]); out("expl.lm5.df1", s5$fstatistic[2]); out("expl.lm5.df2", s5$fstatistic[3])
out("expl.lm5.F_p", pf(s5$fstatistic[1], s5$fstatistic[2], s5$fstatistic[3], lower.tail = FALSE))

frame <- study[, c(items, "model")]
base <- npmv:::basenonpartest(frame, "model", items, c(1, 1, 1, 1))
for (name in c("Fanova", "df1anova", "df2anova", "pvalanova", "FLH", "df1LH", "df2LH", "pvalLH",
               "FBNP", "df1BNP", "df2BNP", "pvalBNP", "FWL", "df1WL", "df2WL", "pvalWL")) {
  out(paste0("expl.npmv.", name), base[[name]])
}
set.seed(2024)
np <- nonpartest(Plausibility | Understandability | Completeness | Satisfaction | Contrastiveness ~ model,
                 study, permreps = 1000, plots = FALSE)
res <- np$results
for (i in seq_len(nrow(res))) {
  out(paste0("expl.npmv_perm_seed2024.", i), res[i, 5])
}
for (g in rownames(np$releffects)) for (v in items) {
  out(paste0("expl.npmv_releffect.", g, ".", v), np$releffects[g, v])
}

kw <- long %>% filter(variable %in% items) %>% group_by(variable) %>% kruskal_test(value ~ model)
for (i in seq_len(nrow(kw))) {
  k <- paste0("expl.kruskal.", kw$variable[i])
  out(paste0(k, ".statistic"), kw$statistic[i]); out(paste0(k, ".df"), kw$df[i]); out(paste0(k, ".p"), kw$p[i])
}
# unrounded p from kruskal.test itself
for (v in items) {
  kt <- kruskal.test(study[[v]] ~ study$model)
  out(paste0("expl.kruskal_full.", v, ".statistic"), kt$statistic); out(paste0("expl.kruskal_full.", v, ".p"), kt$p.value)
}

dn <- long %>% filter(variable %in% items) %>% group_by(variable) %>%
  dunn_test(value ~ model, p.adjust.method = "bonferroni")
for (i in seq_len(nrow(dn))) {
  k <- paste0("expl.dunn.", dn$variable[i], ".", dn$group1[i], " vs ", dn$group2[i])
  out(paste0(k, ".estimate"), dn$estimate[i]); out(paste0(k, ".statistic"), dn$statistic[i])
  out(paste0(k, ".p"), dn$p[i]); out(paste0(k, ".p_adjusted"), dn$p.adj[i])
}

lv <- levels(study$model)
for (v in items) for (i in 1:(length(lv) - 1)) for (j in (i + 1):length(lv)) {
  x <- study[[v]][study$model == lv[i]]; y <- study[[v]][study$model == lv[j]]
  w <- suppressWarnings(wilcox.test(x, y, exact = FALSE))$statistic
  out(paste0("expl.vda.", v, ".", lv[i], " vs ", lv[j]), w / (length(x) * length(y)))
}

ms <- study %>% select(all_of(items)) %>% mshapiro_test()
out("expl.mshapiro.statistic", ms$statistic); out("expl.mshapiro.p", ms$p.value)
for (i in 1:(length(items) - 1)) for (j in (i + 1):length(items)) {
  ct <- cor.test(study[[items[i]]], study[[items[j]]])
  k <- paste0("expl.cor.", items[i], " ~ ", items[j])
  out(paste0(k, ".r"), ct$estimate); out(paste0(k, ".t"), ct$statistic); out(paste0(k, ".p"), ct$p.value)
  out(paste0(k, ".conf_low"), ct$conf.int[1]); out(paste0(k, ".conf_high"), ct$conf.int[2])
}
