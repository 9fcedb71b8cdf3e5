/*
 * JSON parsing with source positions. cJSON builds the tree but records no
 * line or column; this module parses with cJSON and then walks the text and
 * the tree side by side (cJSON keeps member and element order) to note where
 * every value and every object key starts, so config errors can say
 * FILE:LINE:COL. Lines and columns are 1-based; a column counts characters
 * (UTF-8 sequences), a tab counts as one.
 */
#ifndef ERDNS_CONFIG_JSON_POS_H
#define ERDNS_CONFIG_JSON_POS_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#define ER_JSON_DEPTH_MAX 64 /* far deeper than any config; bounds the recursion */

typedef struct json_pos json_pos_t;

/*
 * Parses the NUL-terminated text. Returns 0 with *root (caller frees with
 * cJSON_Delete) and *map (caller frees with json_pos_free); -EINVAL with
 * "LINE:COL: what is wrong" in err for a syntax error; -ENOMEM. On failure
 * *root and *map are NULL.
 */
int json_pos_parse(const char *text, cJSON **root, json_pos_t **map, char *err, size_t errlen);

/* Where item's value starts. Returns 0, or -ENOENT for an item not from the
 * parse that built map (line and col are then set to 0). */
int json_pos_of(const json_pos_t *map, const cJSON *item, uint32_t *line, uint32_t *col);

/* Where the key of an object member starts; -ENOENT for array elements and
 * the root. */
int json_pos_key_of(const json_pos_t *map, const cJSON *item, uint32_t *line, uint32_t *col);

/* NULL is ignored. */
void json_pos_free(json_pos_t *map);

#endif
