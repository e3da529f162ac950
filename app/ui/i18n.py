"""The UI's words in Chinese: labels, buttons and tabs, shown by the browser's language or Gradio's Settings."""

from __future__ import annotations

import gradio as gr

# The English text is the key (a missing key shows as itself, so English needs no table). Values that
# reach the engine (task names, model kinds) and messages made at run time stay English.
ZH: dict[str, str] = {
    # tabs
    "Data": "数据",
    "Train": "训练",
    "Runs": "训练记录",
    "Playground": "试用",
    "Export": "导出",
    # Data
    "Drop a dataset here (or click to browse)": "把数据集拖到这里（或点击选择文件）",
    "…or pick a bundled demo dataset": "……或选一个自带的示例数据集",
    "Text column": "文本列",
    "Label column": "标签列",
    "Plain text: one corpus, or one document per line": "纯文本：整个文件是一份语料，或每行一篇文档",
    "Sheet": "工作表",
    "Merge labels that differ only by case": "合并只有大小写不同的标签",
    "Preview (first rows)": "预览（前几行）",
    "Class balance": "类别分布",
    "Text length (characters)": "文本长度（字符）",
    "Line length (characters)": "行长度（字符）",
    # Train
    "Task": "任务",
    "Pretrained run to start from": "从哪个预训练运行开始",
    "Teacher run (a finished classifier)": "教师运行（一个已完成的分类器）",
    "Prune this run (a new run: weights set to zero, then a short fine-tune)": "剪枝此运行（新运行：权重置零，再短暂微调）",
    "Sparsity (share of each weight matrix set to zero)": "稀疏度（每个权重矩阵中置零的比例）",
    "Prune": "剪枝",
    "Distil this classifier into a smaller student (a new run)": "把这个分类器蒸馏成更小的学生模型（新运行）",
    "Distil": "蒸馏",
    "a tenth of the teacher": "教师的十分之一",
    "the best for this teacher": "最适合这个教师的",
    "Every export of this run and of its teacher, students, parent and pruned copies": (
        "此运行及其教师、学生、父运行和剪枝副本的所有导出"
    ),
    "Model": "模型",
    "Size": "规模",
    "Choose settings from the data (recommended): the fields below show the choices; a field you edit "
    "stays yours": "根据数据选择设置（推荐）：下面的字段显示所选的值；你改过的字段保留你的值",
    "Epochs": "训练轮数",
    "Batch size": "批大小",
    "Learning rate": "学习率",
    "Sequence length (tokens)": "序列长度（词元）",
    "Max steps (0 = no cap)": "最多步数（0 = 不限）",
    "Advanced": "高级",
    "Keras backend": "Keras 后端",
    "Precision": "精度",
    "Tokenizer": "分词器",
    "Log every N steps": "每 N 步记录一次",
    "Run name (optional)": "运行名称（可选）",
    "Validation share": "验证集比例",
    "Test share": "测试集比例",
    "Seed (split and training)": "随机种子（划分与训练）",
    "Class weights (balanced: a rare class counts as much as a common one)": "类别权重（balanced：少见的类别与常见的同样重要）",
    "Start training": "开始训练",
    "Stop": "停止",
    "Resume": "继续",
    "Try several settings": "尝试多组设置",
    "Settings to try": "尝试的设置数",
    "Within minutes": "限时（分钟）",
    "Search": "搜索",
    "Run shown below": "下方显示的运行",
    "Train again with these settings": "用这些设置再训练一次",
    "Training curves": "训练曲线",
    # Runs
    "Refresh": "刷新",
    "Filter (words in id, name, task, model, data or state)": "筛选（编号、名称、任务、模型、数据或状态中的词）",
    "Sort": "排序",
    "Manage a run": "管理一个运行",
    "Run": "运行",
    "New name": "新名称",
    "Rename": "重命名",
    "More epochs": "追加轮数",
    "Train N more epochs": "再训练 N 轮",
    "Delete…": "删除……",
    "Yes, delete it": "确定删除",
    "Cancel": "取消",
    "Compare runs (loss curves)": "比较运行（损失曲线）",
    "Loss": "损失",
    "Settings that differ between the selected runs (numbered as in the chart)": "所选运行之间不同的设置（编号与图中一致）",
    # Playground
    "Prompt": "提示词",
    "Temperature (0 = greedy)": "温度（0 = 贪心）",
    "Top-k (0 = off)": "Top-k（0 = 关闭）",
    "Top-p (1 = off)": "Top-p（1 = 关闭）",
    "Max new tokens": "最多生成的词元数",
    "Generate": "生成",
    "Generated text": "生成的文本",
    "Text to classify": "要分类的文本",
    "Classify": "分类",
    "Label probabilities": "各标签的概率",
    "Text to tag (words are split on spaces)": "要标注的文本（按空格切分词）",
    "Tag": "标注",
    "Tags": "标注结果",
    "Confusion matrix and F1 per class (test split)": "混淆矩阵与各类别的 F1（测试集）",
    # Export
    "Format": "格式",
    "Weights (float16/int8 are smaller)": "权重（float16/int8 更小）",
    "Bundle (zip)": "模型包（zip）",
}

# Chinese as browsers name it (navigator.language), and as Gradio's Settings list it.
I18N = gr.I18n(**{"zh-CN": ZH, "zh": ZH})


def t(text: str) -> gr.i18n.I18nData:
    """``text`` as a translation key: the browser shows it in its language where a table has it."""
    return I18N(text)
