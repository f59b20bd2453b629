// SPDX-License-Identifier: GPL-2.0
#include <linux/module.h>
#include <linux/miscdevice.h>
#include <linux/fs.h>
static const struct file_operations kshm_fops = { .owner = THIS_MODULE };
static struct miscdevice kshm_misc = { .minor = MISC_DYNAMIC_MINOR, .name = "kshm", .fops = &kshm_fops };
static int __init kshm_init(void) { return misc_register(&kshm_misc); }
static void __exit kshm_exit(void) { misc_deregister(&kshm_misc); }
module_init(kshm_init);
module_exit(kshm_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("stub");
